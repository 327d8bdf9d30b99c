// Package forecast predicts the peak of a series (an app's request rate) over
// the next few minutes, online: one sample per step, O(1) work per sample
// (bounded by the horizon and a fixed error window), no batch refits.
//
// It is an ensemble of three forecasters of the peak over (t, t+h]:
//
//   - naive: the last value (the reactive baseline every error is scaled by);
//   - damped Holt: a smoothed level plus a damped recent trend;
//   - seasonal naive, per season (a day, a week): the last value, and the
//     smoothed level, plus the rise the series made over the same span one
//     season ago.
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
	"slices"
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
		// A load that repeats within two minutes' worth of errors is judged
		// on half a period of it (at least 10): waiting longer would see its
		// third repetition before the forecast of the second is trusted.
		for _, s := range o.Seasons {
			if half := int(s / o.Step / 2); half < o.MinErrors {
				o.MinErrors = max(10, half)
			}
		}
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
	// NaiveUpper is the same bound around the naive forecast, from its own
	// errors: the headroom a reactive decision needs at this horizon.
	NaiveUpper float64
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

// SameSeasons reports whether o (its defaults applied) has f's step,
// seasons and bucket: whether f's memory serves a forecaster made with o.
func (f *Forecaster) SameSeasons(o Options) bool {
	o.defaults()
	return o.Step == f.o.Step && o.Bucket == f.o.Bucket && slices.Equal(o.Seasons, f.o.Seasons)
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
		tr.keep(idx, t, comps)
		tr.joined(comps)
		point, _ := tr.combine(comps)
		tr.push(idx+int64(h), comps, point, f.scale(), f.o.Quantile)
	}
}

func (f *Forecaster) scale() float64 { return max(f.mean*0.05, 1e-9) }

// Peak forecasts the peak of the series over the next h, its upper bounds
// at the configured quantile.
func (f *Forecaster) Peak(h time.Duration) Forecast { return f.PeakAt(h, f.o.Quantile) }

// PeakAt is Peak with the upper bounds at quantile q (coverage and health
// are still those of the configured quantile).
func (f *Forecaster) PeakAt(h time.Duration, q float64) Forecast {
	steps := f.Steps(h)
	tr, ok := f.tracks[steps]
	if !ok {
		tr = f.newTrack(steps)
		f.tracks[steps] = tr
	}
	tr.used = f.idx
	out := Forecast{Naive: f.last, Point: f.last, Upper: f.last, NaiveUpper: f.last, Errors: tr.n, Coverage: tr.coverage(f.o.Quantile), MASE: tr.mase()}
	if !f.started {
		out.Why = "no data yet"
		return out
	}
	t := f.t0.Add(time.Duration(f.idx) * f.o.Step)
	comps, ok := tr.kept(f.idx, t)
	if !ok {
		comps = f.components(t, steps)
		tr.keep(f.idx, t, comps)
	}
	point, _ := tr.combine(comps)
	out.Point = point
	out.Upper = tr.best(0, f.o.Quantile).upper(point, f.scale(), q)
	out.NaiveUpper = tr.best(1, f.o.Quantile).upper(f.last, f.scale(), q)
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
	c := make([]float64, compSeason0+2*len(f.seasons))
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
		// Both seasonal forecasts add the same rise (found once) to their level.
		rise, ok := s.rise(t, h, f.o.Step)
		c[compSeason0+2*i], c[compSeason0+2*i+1] = math.NaN(), math.NaN()
		if ok {
			c[compSeason0+2*i] = max(0, f.last+rise)
			c[compSeason0+2*i+1] = max(0, f.level+rise)
		}
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
	// first is the bucket of the first sample (when added): no bucket
	// before it holds one, so recall answers at once for a time before it
	// (all of a season's first period, the week's first seven days).
	first int64
	added bool
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
	if !s.added {
		s.first, s.added = b, true
	}
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

// recall is the mean in the bucket holding t or, without a sample there,
// in the same bucket one or two seasons before, while the memory still
// holds it (a short season's memory spans several: its margin of buckets
// is longer than the season).
func (s *seasonal) recall(t time.Time) (float64, bool) {
	if !s.added || floorDiv(t.UnixNano(), int64(s.bucket)) < s.first {
		return 0, false // t and the seasons before it predate every sample
	}
	for k := 0; k < 3; k++ {
		if v, ok := s.at(t.Add(-time.Duration(k) * s.period)); ok {
			return v, true
		}
	}
	return 0, false
}

// rise is the largest rise, one season ago, from t to any of the next h
// steps: "what happened next, last time" (the seasonal forecasts add it to
// their level). Buckets without a sample (the series had a gap: a busy host's
// metrics miss ticks, most often while replicas start, just when a rise
// comes) are skipped, not invented; the base is the last bucket with a
// sample at or before t one season ago, within h steps. False when nothing
// of that span is known.
func (s *seasonal) rise(t time.Time, h int, step time.Duration) (float64, bool) {
	base, ok := s.recall(t.Add(-s.period))
	for j := 1; !ok && j <= h; j++ {
		base, ok = s.recall(t.Add(-s.period - time.Duration(j)*step))
	}
	if !ok {
		return 0, false
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
		if v, ok := s.recall(at); ok {
			rise = max(rise, v-base)
		}
	}
	if math.IsInf(rise, -1) {
		return 0, false
	}
	return rise, true
}

// newTrack makes the record of a horizon first asked for: a copy of the
// nearest horizon's within half of it (the pool's measured boot time moved
// by a few seconds: its errors are alike, and starting from nothing would
// distrust the forecast for MinErrors steps each time), else empty.
func (f *Forecaster) newTrack(steps int) *track {
	var near *track
	best := steps/2 + 1
	for h, tr := range f.tracks {
		if d := abs(h - steps); d < best || d == best && near != nil && h > steps {
			near, best = tr, d
		}
	}
	if near == nil {
		return newTrack(2*len(f.seasons)+compSeason0, f.o.Window)
	}
	c := near.clone()
	c.pending = nil
	c.comps = nil // another horizon's
	return c
}

func abs(x int) int { return max(x, -x) }

// track is one horizon's ensemble weights and error record.
type track struct {
	used    int64  // step index when last asked for
	avail   uint64 // components that gave a forecast at least once
	sqErr   []float64
	pending []pending
	// Two error bands, errors scaled by the point (relative: noise that
	// grows with the load) and by its square root (counting noise, as of
	// Poisson arrivals); the upper bound uses the narrower of those that
	// cover.
	// bands[0] are the ensemble's, bands[1] the naive forecast's (the
	// reactive fallback's headroom).
	bands    [2][2]*band
	n        int
	window   int
	seen     uint64  // components scored at least once
	events   int     // informative spans scored
	absErr   float64 // EWMA of |ensemble error|
	absNaive float64 // EWMA of |naive error|
	// comps are the components made at step compsIdx for time compsT: the
	// forecaster changes only when a sample moves it to a later step, so
	// Observe's and PeakAt's at that step are the same (read only: pending
	// forecasts hold them too).
	comps    []float64
	compsIdx int64
	compsT   time.Time
}

// keep records the components made at step idx for time t.
func (tr *track) keep(idx int64, t time.Time, comps []float64) {
	tr.comps, tr.compsIdx, tr.compsT = comps, idx, t
}

// kept returns the components made at step idx for time t, if recorded.
func (tr *track) kept(idx int64, t time.Time) ([]float64, bool) {
	if tr.comps == nil || tr.compsIdx != idx || !tr.compsT.Equal(t) {
		return nil, false
	}
	return tr.comps, true
}

type pending struct {
	due   int64
	comps []float64
	point float64
	high  [2][2]float64
	// banded: the band had errors when the bound was made (a bound from no
	// errors is the point itself: whether it covers says nothing).
	banded [2][2]bool
	peak   float64
	seen   bool
}

func newTrack(comps, window int) *track {
	tr := &track{sqErr: make([]float64, comps), window: window}
	for k := range tr.bands {
		for i := range tr.bands[k] {
			tr.bands[k][i] = &band{power: 1 - 0.5*float64(i), window: window, covered: 1}
		}
	}
	return tr
}

// band is the recent errors of the ensemble scaled by point^power: the last
// Window of them in arrival order (ring) and sorted (for the quantile).
type band struct {
	power   float64
	ring    []float64
	sorted  []float64
	next    int
	window  int
	covered float64 // EWMA of "the peak was at or under this band's upper bound"
	width   float64 // EWMA of upper - point
}

func (b *band) norm(point, scale float64) float64 {
	x := max(point, scale)
	if b.power == 1 {
		return x
	}
	// Scaled so both bands agree at the scale (5 % of the mean).
	return math.Pow(x/scale, b.power) * scale
}

func (b *band) upper(point, scale, q float64) float64 {
	if len(b.sorted) == 0 {
		return point
	}
	k := min(len(b.sorted)-1, int(math.Ceil(q*float64(len(b.sorted))))-1)
	return max(0, point+b.sorted[max(k, 0)]*b.norm(point, scale))
}

func (b *band) add(e float64) {
	if len(b.ring) < b.window {
		b.ring = append(b.ring, e)
		i := sort.SearchFloat64s(b.sorted, e)
		b.sorted = append(b.sorted, 0)
		copy(b.sorted[i+1:], b.sorted[i:])
		b.sorted[i] = e
		return
	}
	old := b.ring[b.next]
	b.ring[b.next] = e
	b.next = (b.next + 1) % b.window
	// e replaces old in sorted: only the values between the two move, one
	// place towards old's (removing old, then inserting e, moved every value
	// after each of them). The sorted values are the same.
	i := sort.SearchFloat64s(b.sorted, old)
	j := sort.SearchFloat64s(b.sorted, e)
	if j > i {
		copy(b.sorted[i:j-1], b.sorted[i+1:j])
		b.sorted[j-1] = e
	} else {
		copy(b.sorted[j+1:i+1], b.sorted[j:i])
		b.sorted[j] = e
	}
}

// best is the band the upper bound comes from: the narrowest of those whose
// coverage is within 3 points of q, else the one covering most.
func (tr *track) best(kind int, q float64) *band {
	var out *band
	for _, b := range tr.bands[kind] {
		ok := b.covered >= q-0.03
		switch {
		case out == nil:
			out = b
		case ok && (out.covered < q-0.03 || b.width < out.width):
			out = b
		case !ok && out.covered < q-0.03 && b.covered > out.covered:
			out = b
		}
	}
	return out
}

// joined restarts the record when a component gives its first forecast (a
// season's memory now reaches over the horizon): the ensemble is another
// forecaster from then on, and the errors made without it (a rise nobody
// could foresee the first time) say nothing of its coverage or of how it
// compares with naive. Its coverage and error against naive start again,
// judged on its own forecasts as they resolve; its error bands (the upper
// bound stays as wide as what was seen: the cautious side), the count of
// errors seen (MinErrors: the horizon has been watched long enough) and
// the components' weights are kept.
func (tr *track) joined(c []float64) {
	var m uint64
	for i, v := range c {
		if !math.IsNaN(v) {
			m |= 1 << i
		}
	}
	if m&^tr.avail == 0 {
		return
	}
	if tr.avail != 0 {
		for k := range tr.bands {
			for _, b := range tr.bands[k] {
				b.covered = 1
			}
		}
		tr.pending = nil
		tr.events, tr.absErr, tr.absNaive = 0, 0, 0
	}
	tr.avail |= m
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

func (tr *track) push(due int64, comps []float64, point, scale, q float64) {
	p := pending{due: due, comps: comps, point: point}
	for k, pt := range []float64{point, comps[compNaive]} {
		for i, b := range tr.bands[k] {
			p.high[k][i] = b.upper(pt, scale, q)
			p.banded[k][i] = len(b.sorted) > 0
		}
	}
	tr.pending = append(tr.pending, p)
}

// upper is the chosen band's bound around the ensemble's (kind 0) or the
// naive (kind 1) point.
func (tr *track) upper(kind int, point, scale, q float64) float64 {
	return tr.best(kind, q).upper(point, scale, q)
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
	for k, pt := range []float64{p.point, p.comps[compNaive]} {
		for i, b := range tr.bands[k] {
			if p.banded[k][i] {
				hit := 0.0
				if p.peak <= p.high[k][i]+1e-9 {
					hit = 1
				}
				b.covered += a * (hit - b.covered)
				b.width += a * (p.high[k][i] - pt - b.width)
			}
			b.add((p.peak - pt) / b.norm(pt, scale))
		}
	}
	tr.n++
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

func (tr *track) coverage(q float64) float64 { return tr.best(0, q).covered }

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

// Clone returns an independent copy (a dry run must not feed the real one).
func (f *Forecaster) Clone() *Forecaster {
	c := *f
	c.o.Seasons = append([]time.Duration(nil), f.o.Seasons...)
	c.seasons = make([]*seasonal, len(f.seasons))
	for i, s := range f.seasons {
		cs := *s
		cs.sum = append([]float64(nil), s.sum...)
		cs.cnt = append([]int32(nil), s.cnt...)
		cs.id = append([]int64(nil), s.id...)
		c.seasons[i] = &cs
	}
	c.tracks = make(map[int]*track, len(f.tracks))
	for h, tr := range f.tracks {
		c.tracks[h] = tr.clone()
	}
	return &c
}

func (tr *track) clone() *track {
	ct := *tr
	ct.sqErr = append([]float64(nil), tr.sqErr...)
	for k := range tr.bands {
		for i, b := range tr.bands[k] {
			cb := *b
			cb.ring = append([]float64(nil), b.ring...)
			cb.sorted = append([]float64(nil), b.sorted...)
			ct.bands[k][i] = &cb
		}
	}
	ct.pending = make([]pending, len(tr.pending))
	for i, p := range tr.pending {
		p.comps = append([]float64(nil), p.comps...)
		ct.pending[i] = p
	}
	return &ct
}
