package sim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The per-second queue model must give queueInto's results bit for bit:
// the simulator's figures (and hoist bench's reports) may not move.
func TestQueueModelIsQueueIntoExactly(t *testing.T) {
	lambdas := []float64{0, 1e-9, 0.3, 1, 7.5, 25, 49.999, 50, 50.001, 80, 120, 333.3, 1e4, 1e12}
	for _, mu := range []float64{0, 0.5, 3, 50, 1000, 1e6, math.Inf(1)} {
		for _, k := range []int{0, 1, 2, 10, 100} {
			for _, slo := range []float64{0, 0.01, 0.25, 2, 100} {
				m := newQueueModel(mu, k, slo)
				for _, lambda := range lambdas {
					var want QueueResult
					if mu <= 0 || k < 1 {
						want = Queue(lambda, mu, k, slo)
					} else {
						want = queueInto(make([]float64, k+1), lambda, mu, k, slo)
					}
					got := m.eval(lambda)
					check(t, mu, k, slo, lambda, got, want)
				}
			}
		}
	}
	// The benchmark's shape (μ 50/s, K 100, SLO 250 ms) at many loads.
	r := rand.New(rand.NewPCG(1, 2))
	m := newQueueModel(50, 100, 0.25)
	for i := 0; i < 20_000; i++ {
		lambda := r.Float64() * 120
		check(t, 50, 100, 0.25, lambda, m.eval(lambda), queueInto(make([]float64, 101), lambda, 50, 100, 0.25))
	}
	// -0 (its ρ has the sign of λ).
	negZero := math.Copysign(0, -1)
	check(t, 50, 100, 0.25, 0, m.eval(0), queueInto(make([]float64, 101), 0, 50, 100, 0.25))
	check(t, 50, 100, 0.25, negZero, m.eval(negZero), queueInto(make([]float64, 101), negZero, 50, 100, 0.25))
	// Random shapes, loads up to 1.3 μ and just below μ (where the terms
	// fall slowest).
	for s := 0; s < 40; s++ {
		mu, k, slo := math.Exp(r.Float64()*12-4), 1+r.IntN(300), math.Exp(r.Float64()*10-7)
		m := newQueueModel(mu, k, slo)
		for i := 0; i < 500; i++ {
			lambda := r.Float64() * mu * 1.3
			if i%7 == 0 {
				lambda = mu * (1 - r.Float64()*1e-3)
			}
			check(t, mu, k, slo, lambda, m.eval(lambda), queueInto(make([]float64, k+1), lambda, mu, k, slo))
		}
	}
}

func check(t *testing.T, mu float64, k int, slo, lambda float64, got, want QueueResult) {
	t.Helper()
	same := func(a, b float64) bool {
		return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
	}
	if !same(got.Rho, want.Rho) || !same(got.Drop, want.Drop) || !same(got.Busy, want.Busy) ||
		!same(got.P95, want.P95) || !same(got.OverSLO, want.OverSLO) {
		t.Fatalf("mu %g k %d slo %g lambda %g: got %+v, want %+v", mu, k, slo, lambda, got, want)
	}
}
