package anomaly

import (
	"math"
	"math/rand/v2"
	"testing"
)

// A KNN whose recent values all stand at one value skips the update of its
// lagged distances (they cannot change); its non-conformity stays the
// reference's bit for bit: through runs of zeros (signed ones mixed in),
// runs longer and shorter than the window, a run broken by one value,
// runs at a huge level, a run of infinities, and noise between them.
func TestKNNStandingStillMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var vals []float64
	run := func(n int, f func(i int) float64) {
		for i := range n {
			vals = append(vals, f(i))
		}
	}
	noise := func(level float64) func(int) float64 {
		return func(int) float64 { return level + rng.NormFloat64() }
	}
	run(700, func(int) float64 { return 0 })
	run(700, func(i int) float64 {
		if i%3 == 0 {
			return math.Copysign(0, -1)
		}
		return 0
	})
	run(200, noise(5))
	run(1000, func(int) float64 { return 5 })
	run(1, func(int) float64 { return 6 })
	run(1000, func(int) float64 { return 5 })
	run(150, func(int) float64 { return 7 }) // shorter than the window
	run(50, noise(7))
	run(900, func(int) float64 { return 1e150 })
	run(400, func(int) float64 { return 2 })
	run(300, noise(0))
	run(2000, func(int) float64 { return 0 })
	finite := len(vals)
	// Last, as the range stays infinite after: a run of +Inf (updated, not
	// skipped: ∞ - ∞ is NaN). NaN's bits are not held (the code before
	// the skip gave other NaNs than the reference too).
	run(400, func(int) float64 { return math.Inf(1) })
	cfgs := []KNNConfig{
		DefaultKNNConfig(),
		{Dim: 5, History: 40, K: 3, Calib: 10},
		{Dim: 2, History: 3, K: 1, Calib: 2},
		{Dim: 3, History: 100, K: 7, Calib: 2},
	}
	for _, cfg := range cfgs {
		d, ref := NewKNN(cfg), newKNNRef(cfg)
		for i, v := range vals {
			got, ok := d.update(v)
			want, wantOK := ref.update(v)
			same := math.Float64bits(got) == math.Float64bits(want) || i >= finite && math.IsNaN(got) && math.IsNaN(want)
			if ok != wantOK || !same {
				t.Fatalf("%+v, value %d (%v): non-conformity %v (%v), reference %v (%v)", cfg, i, v, got, ok, want, wantOK)
			}
		}
	}
}
