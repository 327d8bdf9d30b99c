package anomaly

import "math"

// KNNConfig parameterises KNN.
type KNNConfig struct {
	Dim        int     // values per subsequence (the embedding dimension)
	History    int     // past subsequences searched for neighbours
	K          int     // neighbours averaged in the non-conformity measure
	Calib      int     // past non-conformity values the new one is compared with
	Refractory int     // points silenced after an alarm
	HalfLife   float64 // half-life of the suppression ceiling, in points
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
// it by the largest of the last Calib ones: the evidence x is 1 when the
// context is as strange as the strangest recent one, and keeps growing
// beyond, so that strong outliers outrank mere new maxima. The score is
// x/(1+x); alarms are suppressed as in Records.
//
// Memory: History*Dim + Calib floats. Time: O(History*Dim) per value,
// less with early abandoning. No allocation.
type KNN struct {
	cfg     KNNConfig
	vals    ring      // last Dim values
	emb     []float64 // History*Dim past subsequences, a ring
	embN    int       // subsequences stored
	embHead int       // slot of the next one
	cur     []float64 // the current subsequence, oldest value first
	best    []float64 // K smallest squared distances so far, ascending
	calib   sortedWindow
	lo, hi  float64
	sup     suppressor
	refr    int
}

// NewKNN returns a KNN detector.
func NewKNN(cfg KNNConfig) *KNN {
	cfg.Dim = max(cfg.Dim, 2)
	cfg.K = max(cfg.K, 1)
	cfg.History = max(cfg.History, cfg.Dim+cfg.K)
	cfg.Calib = max(cfg.Calib, 2)
	d := &KNN{
		cfg:   cfg,
		vals:  newRing(cfg.Dim),
		emb:   make([]float64, cfg.History*cfg.Dim),
		cur:   make([]float64, cfg.Dim),
		best:  make([]float64, cfg.K),
		calib: newSortedWindow(cfg.Calib),
		sup:   newSuppressor(cfg.HalfLife),
	}
	d.Reset()
	return d
}

// Reset implements Detector.
func (d *KNN) Reset() {
	d.vals.reset()
	d.embN, d.embHead, d.refr = 0, 0, 0
	d.calib.reset()
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
	d.lo, d.hi = math.Min(d.lo, v), math.Max(d.hi, v)
	d.vals.push(v)
	if !d.vals.full() {
		return 0
	}
	for i := range d.cur {
		d.cur[i] = d.vals.at(i)
	}
	ncm, ok := d.nonConformity()
	d.store()
	if !ok {
		return 0
	}
	x := 0.0
	if d.calib.len() >= d.cfg.Calib/2 {
		x = ncm / math.Max(d.calib.quantile(1), 1e-12)
	}
	d.calib.push(ncm)
	return x
}

// nonConformity is the mean distance from the current subsequence to its K
// nearest stored neighbours, over the range; ok is false until K
// non-overlapping subsequences are stored.
func (d *KNN) nonConformity() (float64, bool) {
	usable := d.embN - d.cfg.Dim // the newest Dim overlap the current one
	if usable < d.cfg.K {
		return 0, false
	}
	for i := range d.best {
		d.best[i] = math.Inf(1)
	}
	dim := d.cfg.Dim
	worst := math.Inf(1)
	for k := 0; k < usable; k++ {
		idx := (d.embHead - d.embN + k + d.cfg.History) % d.cfg.History // k-th oldest
		e := d.emb[idx*dim : (idx+1)*dim]
		s := 0.0
		for j, x := range d.cur {
			t := x - e[j]
			s += t * t
			if s >= worst {
				break // early abandon: cannot enter the K best
			}
		}
		if s >= worst {
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

// store appends the current subsequence to the history ring.
func (d *KNN) store() {
	copy(d.emb[d.embHead*d.cfg.Dim:], d.cur)
	d.embHead = (d.embHead + 1) % d.cfg.History
	d.embN = min(d.embN+1, d.cfg.History)
}
