package anomaly

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// bruteNonConformity is KNN's non-conformity computed directly from the
// values: the mean RMS distance from the last dim values to the K nearest
// of the earlier subsequences (at most history of them, the dim newest
// excluded), over the range.
func bruteNonConformity(vals []float64, cfg KNNConfig) (float64, bool) {
	n, dim := len(vals), cfg.Dim
	cur := vals[n-dim:]
	var ds []float64
	for lag := dim + 1; lag <= min(n-dim, cfg.History); lag++ {
		past := vals[n-dim-lag : n-lag]
		s := 0.0
		for j := range cur {
			s += (cur[j] - past[j]) * (cur[j] - past[j])
		}
		ds = append(ds, s)
	}
	if len(ds) < cfg.K {
		return 0, false
	}
	slices.Sort(ds)
	sum := 0.0
	for _, s := range ds[:cfg.K] {
		sum += math.Sqrt(s / float64(dim))
	}
	r := slices.Max(vals) - slices.Min(vals)
	if r <= 0 {
		r = 1
	}
	return sum / float64(cfg.K) / r, true
}

// The incrementally updated distances give the same non-conformity as the
// direct computation, on a level shift of 1e6 with small noise (where
// rounding in the updates would show first).
func TestKNNIncrementalMatchesDirect(t *testing.T) {
	cfg := KNNConfig{Dim: 5, History: 40, K: 3, Calib: 10}
	rng := rand.New(rand.NewPCG(1, 2))
	d := NewKNN(cfg)
	var vals []float64
	for i := range 1000 {
		v := 1e6 + rng.NormFloat64()
		if i%97 == 0 {
			v += 50
		}
		vals = append(vals, v)
		d.lo, d.hi = math.Min(d.lo, v), math.Max(d.hi, v)
		d.xHead = (d.xHead + 1) % len(d.x)
		d.x[d.xHead] = v
		d.xn++
		if d.xn < cfg.Dim {
			continue
		}
		got, ok := d.nonConformity()
		want, wantOK := bruteNonConformity(vals, cfg)
		if ok != wantOK || math.Abs(got-want) > 1e-9*math.Max(want, 1e-6) {
			t.Fatalf("point %d: non-conformity %v (%v), direct %v (%v)", i, got, ok, want, wantOK)
		}
	}
}
