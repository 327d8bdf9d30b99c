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
// Memory: 2*History + Dim + Calib floats (Calib fewer with PeakHalfLife). Time: O(History) per value: the
// squared distance between the current context and the one L values back
// is updated from the previous point's at the same lag (one value enters,
// one leaves), and recomputed in full every recompute points so rounding
// cannot accumulate. No allocation.
type KNN struct {
	cfg    KNNConfig
	x      []float64    // the last History+Dim+1 values, a ring
	xHead  int          // slot of the newest value
	xn     int          // values seen
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
		x:    make([]float64, cfg.History+cfg.Dim+1),
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
	d.xHead, d.xn, d.since, d.refr = 0, 0, 0, 0
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
	d.lo, d.hi = math.Min(d.lo, v), math.Max(d.hi, v)
	d.xHead = (d.xHead + 1) % len(d.x)
	d.x[d.xHead] = v
	d.xn++
	if d.xn < d.cfg.Dim {
		return 0, false
	}
	return d.nonConformity()
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

// back returns the value i points back (0: the newest).
func (d *KNN) back(i int) float64 {
	j := d.xHead - i
	if j < 0 {
		j += len(d.x)
	}
	return d.x[j]
}

// lagDistance is the squared distance between the current context and the
// one L values back, computed from the values.
func (d *KNN) lagDistance(lag int) float64 {
	s := 0.0
	for j := range d.cfg.Dim {
		t := d.back(j) - d.back(lag+j)
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
	enter, leave := d.back(0), d.back(dim)
	ranked := embN-dim >= d.cfg.K
	if ranked {
		for i := range d.best {
			d.best[i] = math.Inf(1)
		}
	}
	worst := math.Inf(1)
	// p and q are the slots of back(lag) and back(lag+dim), walked down the
	// ring with lag instead of computed per lag (this runs History times
	// per value); each distance goes into the K smallest as it is made,
	// in the same order as a second pass would.
	n := len(d.x)
	p, q := (d.xHead-(dim+1)+n)%n, (d.xHead-(2*dim+1)+2*n)%n
	for lag := dim + 1; lag <= embN; lag++ {
		if full || (lag == embN && d.xn-dim <= d.cfg.History) {
			d.dist[lag] = d.lagDistance(lag)
		} else {
			a, b := enter-d.x[p], leave-d.x[q]
			// The builtin, not math.Max (same rules, no call).
			d.dist[lag] = max(0, d.dist[lag]+a*a-b*b)
		}
		if p--; p < 0 {
			p = n - 1
		}
		if q--; q < 0 {
			q = n - 1
		}
		s := d.dist[lag]
		if !ranked || s >= worst {
			continue
		}
		j := len(d.best) - 1
		for j > 0 && d.best[j-1] > s {
			d.best[j] = d.best[j-1]
			j--
		}
		d.best[j] = s
		worst = d.best[len(d.best)-1]
	}
	if !ranked {
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
