// Package forecast predicts the peak of a series (an app's request rate) over
// the next few minutes, online: one sample per step, O(1) work per sample
// (bounded by the horizon and a fixed error window), no batch refits.
//
// It is an ensemble of three forecasters of the peak over (t, t+h]:
//
//   - naive: the last value (the reactive baseline every error is scaled by);
//   - damped Holt: a smoothed level plus a damped recent trend;
//   - seasonal naive, one per season (a day, a week): the last value plus the
//     rise the series made over the same span one season ago.
//
// Each is weighted by the inverse of its recent squared error at that horizon.
// The upper bound is the ensemble plus the chosen quantile of the ensemble's
// own recent relative errors, so its coverage is what was observed, not what
// a distribution assumes. Coverage and MASE (error over the naive error) are
// tracked per horizon; a forecast worse than naive, or one whose coverage
// fell well under its quantile, reports itself unhealthy so its user can fall
// back to reacting.
package forecast

import (
	"math"
	"sort"
	"time"
)

// Options shape a Forecaster. Zero fields take the defaults below.
type Options struct {
	// Step is the sampling interval (default 10s): one Observe per step.
	Step time.Duration
	// Seasons are the seasonal periods (default 24h and 168h).
	Seasons []time.Duration
	// Bucket is the resolution of the seasonal memory (default 1m).
	Bucket time.Duration
	// Quantile of the errors the upper bound covers (default 0.95).
	Quantile float64
	// Window is how many resolved errors the quantile, coverage and MASE
	// look back over (default 720: two hours of 10 s steps).
	Window int
	// MinErrors is how many resolved errors a horizon needs before its
	// forecast is trusted (default 60).
	MinErrors int
	// Holt smoothing: level Alpha, trend Beta, damping Phi (defaults 0.3, 0.05, 0.9).
	Alpha, Beta, Phi float64
}

func (o *Options) defaults() {
	if o.Step <= 0 {
		o.Step = 10 * time.Second
	}
	if o.Seasons == nil {
		o.Seasons = []time.Duration{24 * time.Hour, 7 * 24 * time.Hour}
	}
	if o.Bucket <= 0 {
		o.Bucket = time.Minute
	}
	if o.Quantile <= 0 || o.Quantile >= 1 {
		o.Quantile = 0.95
	}
	if o.Window <= 0 {
		o.Window = 720
	}
	if o.MinErrors <= 0 {
		o.MinErrors = 60
	}
	if o.Alpha <= 0 {
		o.Alpha = 0.3
	}
	if o.Beta <= 0 {
		o.Beta = 0.05
	}
	if o.Phi <= 0 {
		o.Phi = 0.9
	}
}

// Component indices of the ensemble (seasons follow, one each).
const (
	compNaive = iota
	compHolt
	compSeason0
)

// Forecast is the prediction of the peak over the next h.
type Forecast struct {
	// Point is the ensemble's peak; Upper the peak it expects to stay under
	// with probability Quantile (from its own past errors); Naive the last value.
	Point, Upper, Naive float64
	// Healthy: enough errors were seen, the ensemble beats naive (MASE <= 1)
	// and its coverage is within 10 points of the quantile.
	Healthy bool
	// Why says what made it unhealthy ("" when healthy).
	Why string
	// Coverage is the recent share of peaks at or under Upper; MASE the recent
	// ensemble error over the naive error; Errors how many were resolved.
	Coverage, MASE float64
	Errors         int
}

// Forecaster is one series' online forecast. Not safe for concurrent use.
type Forecaster struct {
	o       Options
	started bool
	t0      time.Time
	idx     int64 // step index of the last sample
	last    float64
	level   float64
	trend   float64
	mean    float64 // slow EWMA of the series: the scale floor of relative errors
	seasons []*seasonal
	tracks  map[int]*track // by horizon in steps
}

// New makes a Forecaster.
func New(o Options) *Forecaster {
	o.defaults()
	f := &Forecaster{o: o, tracks: map[int]*track{}}
	for _, s := range o.Seasons {
		f.seasons = append(f.seasons, newSeasonal(s, o.Bucket))
	}
	return f
}

// Step is the sampling interval.
func (f *Forecaster) Step() time.Duration { return f.o.Step }

// Steps converts a horizon to whole steps (at least 1).
func (f *Forecaster) Steps(h time.Duration) int {
	return max(1, int(math.Ceil(float64(h)/float64(f.o.Step)-1e-9)))
}

// Observe adds the value at t. Samples must come in time order; a gap of
// several steps is allowed (missing data is skipped, not invented).
func (f *Forecaster) Observe(t time.Time, y float64) {
	if math.IsNaN(y) || math.IsInf(y, 0) {
		return
	}
	y = max(y, 0)
	if !f.started {
		f.started, f.t0 = true, t
		f.level, f.mean, f.last = y, y, y
		for _, s := range f.seasons {
			s.add(t, y)
		}
		return
	}
	idx := int64(math.Round(float64(t.Sub(f.t0)) / float64(f.o.Step)))
	if idx <= f.idx {
		return // a repeated or late sample
	}
	f.idx = idx
	for _, tr := range f.tracks {
		tr.resolve(idx, y, f.scale())
	}
	prev := f.level
	f.level = f.o.Alpha*y + (1-f.o.Alpha)*(f.level+f.o.Phi*f.trend)
	f.trend = f.o.Beta*(f.level-prev) + (1-f.o.Beta)*f.o.Phi*f.trend
	f.mean += (y - f.mean) / 360
	f.last = y
	for _, s := range f.seasons {
		s.add(t, y)
	}
	// Every horizon asked for recently makes a forecast now, to be scored
	// against what comes (that is how its errors are known).
	for h, tr := range f.tracks {
		if idx-tr.used > int64(f.o.Window) {
			delete(f.tracks, h) // nobody asks for this horizon any more
			continue
		}
		comps := f.components(t, h)
		point, _ := tr.combine(comps)
		tr.push(idx+int64(h), comps, point, tr.upper(point, f.scale(), f.o.Quantile))
	}
}

func (f *Forecaster) scale() float64 { return max(f.mean*0.05, 1e-9) }

// Peak forecasts the peak of the series over the next h.
func (f *Forecaster) Peak(h time.Duration) Forecast {
	steps := f.Steps(h)
	tr, ok := f.tracks[steps]
	if !ok {
		tr = newTrack(len(f.seasons)+compSeason0, f.o.Window)
		f.tracks[steps] = tr
	}
	tr.used = f.idx
	out := Forecast{Naive: f.last, Point: f.last, Upper: f.last, Errors: tr.n, Coverage: tr.coverage(), MASE: tr.mase()}
	if !f.started {
		out.Why = "no data yet"
		return out
	}
	comps := f.components(f.t0.Add(time.Duration(f.idx)*f.o.Step), steps)
	point, _ := tr.combine(comps)
	out.Point = point
	out.Upper = tr.upper(point, f.scale(), f.o.Quantile)
	switch {
	case tr.n < f.o.MinErrors:
		out.Why = "learning"
	case out.MASE > 1:
		out.Why = "worse than naive"
	case out.Coverage < f.o.Quantile-0.1:
		out.Why = "coverage low"
	default:
		out.Healthy = true
	}
	return out
}

// components are each forecaster's peak over the next h steps after t (NaN
// for a season without memory of that span yet).
func (f *Forecaster) components(t time.Time, h int) []float64 {
	c := make([]float64, compSeason0+len(f.seasons))
	c[compNaive] = f.last
	// Damped Holt: level + trend x (phi + ... + phi^j) is monotone in j, so
	// the peak is at the first or the last step.
	damp, sum1, sumH := 1.0, 0.0, 0.0
	for j := 1; j <= h; j++ {
		damp *= f.o.Phi
		sumH += damp
		if j == 1 {
			sum1 = sumH
		}
	}
	c[compHolt] = max(0, max(f.level+f.trend*sum1, f.level+f.trend*sumH))
	for i, s := range f.seasons {
		c[compSeason0+i] = s.peakRise(t, h, f.o.Step, f.last)
	}
	return c
}

// seasonal keeps bucket means over one season, each tagged with its bucket
// number so a stale slot is never read as this season's.
type seasonal struct {
	period time.Duration
	bucket time.Duration
	sum    []float64
	cnt    []int32
	id     []int64
}

func newSeasonal(period, bucket time.Duration) *seasonal {
	// One season of buckets and a margin: the bucket one season ago shares no
	// slot with the one being written now, nor with the horizon after it.
	n := int(period/bucket) + seasonMargin
	return &seasonal{period: period, bucket: bucket, sum: make([]float64, n), cnt: make([]int32, n), id: make([]int64, n)}
}

func (s *seasonal) slot(t time.Time) (int, int64) {
	b := floorDiv(t.UnixNano(), int64(s.bucket))
	i := b % int64(len(s.sum))
	if i < 0 {
		i += int64(len(s.sum))
	}
	return int(i), b
}

func (s *seasonal) add(t time.Time, y float64) {
	i, b := s.slot(t)
	if s.id[i] != b {
		s.id[i], s.sum[i], s.cnt[i] = b, 0, 0
	}
	s.sum[i] += y
	s.cnt[i]++
}

// at is the series' mean in the bucket holding t, if remembered.
func (s *seasonal) at(t time.Time) (float64, bool) {
	i, b := s.slot(t)
	if s.id[i] != b || s.cnt[i] == 0 {
		return 0, false
	}
	return s.sum[i] / float64(s.cnt[i]), true
}

// peakRise is level plus the largest rise, one season ago, from t to any of
// the next h steps: "what happened next, last time".
func (s *seasonal) peakRise(t time.Time, h int, step time.Duration, level float64) float64 {
	base, ok := s.at(t.Add(-s.period))
	if !ok {
		return math.NaN()
	}
	rise := math.Inf(-1)
	lastBucket := int64(math.MinInt64)
	for j := 1; j <= h; j++ {
		at := t.Add(time.Duration(j)*step - s.period)
		if b := floorDiv(at.UnixNano(), int64(s.bucket)); b == lastBucket {
			continue
		} else {
			lastBucket = b
		}
		v, ok := s.at(at)
		if !ok {
			return math.NaN()
		}
		rise = max(rise, v-base)
	}
	return max(0, level+rise)
}

// track is one horizon's ensemble weights and error record.
type track struct {
	used    int64 // step index when last asked for
	sqErr   []float64
	pending []pending
	// The last Window relative errors of the ensemble, in arrival order
	// (ring) and sorted (for the quantile).
	ring     []float64
	sorted   []float64
	next     int
	n        int
	window   int
	covered  float64 // EWMA of "the peak was at or under the upper bound"
	seen     uint64  // components scored at least once
	events   int     // informative spans scored
	absErr   float64 // EWMA of |ensemble error|
	absNaive float64 // EWMA of |naive error|
}

type pending struct {
	due         int64
	comps       []float64
	point, high float64
	peak        float64
	seen        bool
}

func newTrack(comps, window int) *track {
	return &track{sqErr: make([]float64, comps), window: window, covered: 1}
}

// combine weights the components available now by the inverse of their
// recent squared error (equal weights until errors are known).
func (tr *track) combine(c []float64) (float64, bool) {
	var num, den float64
	for i, v := range c {
		if math.IsNaN(v) {
			continue
		}
		w := 1 / (tr.sqErr[i] + weightEps)
		if tr.seen&(1<<i) == 0 {
			w = 1 / weightEps // not scored yet: as good as any unscored
		}
		num += w * v
		den += w
	}
	if den == 0 {
		return c[compNaive], false
	}
	return num / den, true
}

func (tr *track) push(due int64, comps []float64, point, high float64) {
	tr.pending = append(tr.pending, pending{due: due, comps: comps, point: point, high: high})
}

// resolve feeds the value at step idx to the pending forecasts and scores
// those whose horizon has passed.
func (tr *track) resolve(idx int64, y, scale float64) {
	done := 0
	for i := range tr.pending {
		p := &tr.pending[i]
		if !p.seen || y > p.peak {
			p.peak, p.seen = y, true
		}
		if p.due <= idx && done == i {
			done++
			tr.score(p, scale)
		}
	}
	tr.pending = append(tr.pending[:0], tr.pending[done:]...)
}

func (tr *track) score(p *pending, scale float64) {
	a := 2.0 / float64(tr.window+1)
	if tr.n < tr.window {
		a = 1 / float64(tr.n+1) // a plain mean until the window fills
	}
	hit := 0.0
	if p.peak <= p.high+1e-9 {
		hit = 1
	}
	tr.covered += a * (hit - tr.covered)
	tr.addErr((p.peak - p.point) / max(p.point, scale))
	// Only spans where some forecaster erred say which one to trust: a flat
	// stretch, where all are right, must not wash out what the last rise
	// taught (weights and MASE are updated on informative spans only).
	informative := math.Abs(p.point-p.peak)/scale > informativeErr
	for _, v := range p.comps {
		if !math.IsNaN(v) && math.Abs(v-p.peak)/scale > informativeErr {
			informative = true
		}
	}
	if !informative {
		return
	}
	tr.events++
	for i, v := range p.comps {
		if math.IsNaN(v) {
			continue
		}
		e := (v - p.peak) / scale
		if tr.seen&(1<<i) == 0 {
			tr.sqErr[i], tr.seen = e*e, tr.seen|1<<i
		} else {
			tr.sqErr[i] += weightRate * (e*e - tr.sqErr[i])
		}
	}
	b := max(2.0/float64(tr.window+1), 1/float64(tr.events))
	tr.absErr += b * (math.Abs(p.point-p.peak) - tr.absErr)
	tr.absNaive += b * (math.Abs(p.comps[compNaive]-p.peak) - tr.absNaive)
}

// Errors are in units of the scale (5 % of the series' mean): below
// informativeErr a forecast is as good as right; weightEps keeps a
// forecaster that was right so far from taking all the weight; weightRate
// is how fast the weights follow new errors.
const (
	seasonMargin   = 64
	informativeErr = 0.2
	weightEps      = 0.01
	weightRate     = 0.05
)

func (tr *track) addErr(e float64) {
	if len(tr.ring) < tr.window {
		tr.ring = append(tr.ring, e)
	} else {
		old := tr.ring[tr.next]
		tr.ring[tr.next] = e
		tr.next = (tr.next + 1) % tr.window
		i := sort.SearchFloat64s(tr.sorted, old)
		tr.sorted = append(tr.sorted[:i], tr.sorted[i+1:]...)
	}
	i := sort.SearchFloat64s(tr.sorted, e)
	tr.sorted = append(tr.sorted, 0)
	copy(tr.sorted[i+1:], tr.sorted[i:])
	tr.sorted[i] = e
	tr.n++
}

// upper is point plus the q-quantile of the recent relative errors (the
// point itself while none are known).
func (tr *track) upper(point, scale, q float64) float64 {
	if len(tr.sorted) == 0 {
		return point
	}
	k := min(len(tr.sorted)-1, int(math.Ceil(q*float64(len(tr.sorted))))-1)
	return max(0, point+tr.sorted[max(k, 0)]*max(point, scale))
}

func (tr *track) coverage() float64 { return tr.covered }

func (tr *track) mase() float64 {
	if tr.absNaive <= 0 {
		if tr.absErr <= 0 {
			return 0
		}
		return math.Inf(1)
	}
	return tr.absErr / tr.absNaive
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
