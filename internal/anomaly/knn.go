package anomaly

import "math"

// KNNConfig parameterises KNN.
type KNNConfig struct {
	Dim     int // values per subsequence (the embedding dimension)
	History int // past subsequences searched for neighbours
	K       int // neighbours averaged in the non-conformity measure
	Calib   int // past non-conformity values the new one is compared with
	// PeakHalfLife, when positive, compares the non-conformity with a peak
	// of all past ones that decays with this half-life (in points) instead
	// of the largest of the last Calib: a context must be stranger than
	// nearly any seen for a long time, so a long noisy stream does not
	// raise an alarm every Calib points. Calib/2 values are still awaited
	// before the first evidence. O(1) time and memory instead of O(Calib).
	PeakHalfLife float64
	Refractory   int     // points silenced after an alarm
	HalfLife     float64 // half-life of the suppression ceiling, in points
}

// DefaultKNNConfig is the configuration registered as "knn".
func DefaultKNNConfig() KNNConfig {
	return KNNConfig{Dim: 16, History: 300, K: 3, Calib: 500, Refractory: 30, HalfLife: 30}
}

// KNN is a contextual k-nearest-neighbour detector after KNN-CAD (Burnaev
// and Ishimtsev, "Conformalized density- and distance-based anomaly
// detection in time-series data", 2016). Each value closes a subsequence
// (its context) of the last Dim values. Its non-conformity is the mean
// Euclidean distance (root mean square per value) to its K nearest
// neighbours among the previous History subsequences, those overlapping it
// excluded, divided by the range of values seen so far. Where KNN-CAD ranks
// the non-conformity among recent ones (a conformal p-value), KNN divides
// it by the largest of the last Calib ones (or, with PeakHalfLife, by a
// slowly decaying peak of all of them): the evidence x is 1 when the
// context is as strange as the strangest recent one, and keeps growing
// beyond, so that strong outliers outrank mere new maxima. The score is
// x/(1+x); alarms are suppressed as in Records.
//
// Memory: 3*History + 2*Dim + Calib floats (Calib fewer with PeakHalfLife). Time: O(History) per value: the
// squared distance between the current context and the one L values back
// is updated from the previous point's at the same lag (one value enters,
// one leaves), and recomputed in full every recompute points so rounding
// cannot accumulate. No allocation.
type KNN struct {
	cfg KNNConfig
	// x is a ring of the last n = History+Dim+1 values that fills
	// downwards, each value written twice (slots i and i+n): the value i
	// points back is x[xHead+i], so a run of lags is a plain slice.
	x      []float64
	xHead  int          // slot of the newest value, in [0, n)
	xn     int          // values seen
	run    int          // the newest values that equal (==) the newest, it included
	dist   []float64    // dist[L]: squared distance to the context L values back
	since  int          // points since dist was last recomputed in full
	best   []float64    // K smallest squared distances so far, ascending
	calib  sortedWindow // the last Calib non-conformities (PeakHalfLife 0)
	peak   peakCalib    // PeakHalfLife > 0
	lo, hi float64
	sup    suppressor
	refr   int
}

// recompute is how often (in points) the lagged distances are recomputed
// from the values rather than updated.
const recompute = 64

// NewKNN returns a KNN detector.
func NewKNN(cfg KNNConfig) *KNN {
	cfg.Dim = max(cfg.Dim, 2)
	cfg.K = max(cfg.K, 1)
	cfg.History = max(cfg.History, cfg.Dim+cfg.K)
	cfg.Calib = max(cfg.Calib, 2)
	d := &KNN{
		cfg:  cfg,
		x:    make([]float64, 2*(cfg.History+cfg.Dim+1)),
		dist: make([]float64, cfg.History+1),
		best: make([]float64, cfg.K),
		sup:  newSuppressor(cfg.HalfLife),
	}
	if cfg.PeakHalfLife > 0 {
		d.peak = newPeakCalib(cfg.PeakHalfLife, cfg.Calib/2)
	} else {
		d.calib = newSortedWindow(cfg.Calib)
	}
	d.Reset()
	return d
}

// Reset implements Detector.
func (d *KNN) Reset() {
	d.xHead, d.xn, d.run, d.since, d.refr = 0, 0, 0, 0, 0
	d.calib.reset()
	d.peak.reset()
	d.lo, d.hi = math.Inf(1), math.Inf(-1)
	d.sup.reset()
}

// Score implements Detector.
func (d *KNN) Score(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return suppress(&d.sup, &d.refr, d.cfg.Refractory, evidence(d.evidence(v)))
}

// evidence updates the state with v and returns its evidence ratio x
// (unsuppressed; x >= 1 is an alarm). It is 0 until Dim+K subsequences and
// half the calibration window have been seen.
func (d *KNN) evidence(v float64) float64 {
	ncm, ok := d.update(v)
	if !ok {
		return 0
	}
	return d.calibrate(ncm)
}

// update adds v and returns the new context's non-conformity (ok false
// while there is none yet).
func (d *KNN) update(v float64) (ncm float64, ok bool) {
	d.add(v)
	if d.xn < d.cfg.Dim {
		return 0, false
	}
	return d.nonConformity()
}

// add puts v in the ring and the range.
func (d *KNN) add(v float64) {
	d.lo, d.hi = math.Min(d.lo, v), math.Max(d.hi, v)
	if d.xn > 0 && v == d.x[d.xHead] {
		d.run++
	} else {
		d.run = 1
	}
	n := len(d.x) / 2
	d.xHead--
	if d.xHead < 0 {
		d.xHead = n - 1
	}
	d.x[d.xHead] = v
	d.x[d.xHead+n] = v
	d.xn++
}

// calibrate turns a non-conformity from update into the evidence ratio:
// over the decaying peak (PeakHalfLife > 0) or over the largest of the
// last Calib, 0 until Calib/2 were seen.
func (d *KNN) calibrate(ncm float64) float64 {
	if d.cfg.PeakHalfLife > 0 {
		return d.peak.evidence(ncm)
	}
	x := 0.0
	if d.calib.len() >= d.cfg.Calib/2 {
		x = ncm / math.Max(d.calib.quantile(1), 1e-12)
	}
	d.calib.push(ncm)
	return x
}

// lagDistance is the squared distance between the current context and the
// one L values back, computed from the values.
func (d *KNN) lagDistance(lag int) float64 {
	dim := d.cfg.Dim
	cur := d.x[d.xHead : d.xHead+dim]
	past := d.x[d.xHead+lag : d.xHead+lag+dim]
	past = past[:len(cur)]
	s := 0.0
	for j, c := range cur {
		t := c - past[j]
		s += t * t
	}
	return s
}

// nonConformity brings the lagged distances up to date and returns the
// mean distance from the current subsequence to its K nearest earlier ones
// (those overlapping it excluded), over the range; ok is false until K
// non-overlapping subsequences exist.
func (d *KNN) nonConformity() (float64, bool) {
	dim := d.cfg.Dim
	// Earlier contexts: one per value since the first full one, at most
	// History; the newest of them (lag embN) is new while they grow.
	embN := min(d.xn-dim, d.cfg.History)
	full := d.since == 0
	d.since = (d.since + 1) % recompute
	// Lags dim+1 to last are updated, the rest (last+1 to embN) computed
	// in full: all of them every recompute points, and the newest while
	// the contexts grow (it has no earlier distance). The K smallest are
	// kept in the same pass, taken in the order of the lags.
	last := embN
	switch {
	case full:
		last = dim
	case d.xn-dim <= d.cfg.History:
		last = embN - 1
	}
	best := d.best
	for i := range best {
		best[i] = math.Inf(1)
	}
	worst := math.Inf(1)
	if last > dim && d.run > last+dim && !math.IsInf(d.x[d.xHead], 0) {
		// Every value the updates read (back 0 to last+dim) is the same
		// finite one (a stream that stands still, such as the traffic of
		// an app without any): each difference is ±0, its square +0, and
		// s + 0 - 0 is s (s is never -0, see below), so the distances
		// stay as they are and only the selection is made.
		for _, s := range d.dist[dim+1 : last+1] {
			if !(s >= worst) {
				worst = insertBest(best, s)
			}
		}
	} else if last > dim {
		x := d.x[d.xHead:]
		enter, leave := x[0], x[dim]
		dist := d.dist[dim+1 : last+1]
		// back(lag) and back(lag+dim) for lag = dim+1, ..., last.
		in, out := x[dim+1:last+1], x[2*dim+1:last+dim+1]
		in, out = in[:len(dist)], out[:len(dist)]
		for i, s := range dist {
			a, b := enter-in[i], leave-out[i]
			// max(0, ...) as a branch, rarely taken: the builtin's rules for
			// NaN and signed zeros cost instructions, and NaN stays NaN
			// here too, while -0 cannot arise (a sum of squares, less a
			// square, is -0 only from -0).
			s = s + a*a - b*b
			if s < 0 {
				s = 0
			}
			dist[i] = s
			if !(s >= worst) { // as the selection's order has it, NaN too
				worst = insertBest(best, s)
			}
		}
	}
	for lag := max(last, dim) + 1; lag <= embN; lag++ {
		s := d.lagDistance(lag)
		d.dist[lag] = s
		if !(s >= worst) {
			worst = insertBest(best, s)
		}
	}
	if embN-dim < d.cfg.K {
		return 0, false
	}
	sum := 0.0
	for _, s := range d.best {
		sum += math.Sqrt(s / float64(dim))
	}
	r := d.hi - d.lo
	if r <= 0 {
		r = 1
	}
	return sum / float64(len(d.best)) / r, true
}

// insertBest inserts s in best (ascending, its largest dropped) and
// returns the new largest.
func insertBest(best []float64, s float64) float64 {
	j := len(best) - 1
	for j > 0 && best[j-1] > s {
		best[j] = best[j-1]
		j--
	}
	best[j] = s
	return best[len(best)-1]
}

// peakCalib compares each non-conformity with a peak of the earlier ones
// that decays with a half-life (in values): the evidence is the ratio, 0
// until more than after values were seen. O(1) time and memory.
type peakCalib struct {
	peak  float64
	decay float64 // per value
	seen  int
	after int
}

func newPeakCalib(halfLife float64, after int) peakCalib {
	return peakCalib{decay: math.Pow(0.5, 1/halfLife), after: after}
}

func (p *peakCalib) reset() { p.peak, p.seen = 0, 0 }

func (p *peakCalib) evidence(ncm float64) float64 {
	p.seen++
	p.peak *= p.decay
	x := 0.0
	if p.seen > p.after {
		x = ncm / math.Max(p.peak, 1e-12)
	}
	p.peak = math.Max(p.peak, ncm)
	return x
}
