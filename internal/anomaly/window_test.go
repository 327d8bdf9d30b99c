package anomaly

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// bruteMAD is the median absolute deviation from m, by sorting.
func bruteMAD(values []float64, m float64) float64 {
	dev := make([]float64, len(values))
	for i, v := range values {
		dev[i] = math.Abs(v - m)
	}
	slices.Sort(dev)
	n := len(dev)
	return (dev[(n-1)/2] + dev[n/2]) / 2
}

func TestSortedWindowMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, capacity := range []int{1, 2, 3, 10, 101} {
		w := newSortedWindow(capacity)
		var recent []float64
		for i := 0; i < 1000; i++ {
			// Few distinct values, so that ties (and MAD 0) happen.
			v := float64(rng.IntN(7)) * 1.5
			if i%97 == 0 {
				v = rng.NormFloat64() * 100
			}
			w.push(v)
			recent = append(recent, v)
			if len(recent) > capacity {
				recent = recent[1:]
			}
			want := slices.Sorted(slices.Values(recent))
			if !slices.Equal(w.sorted, want) {
				t.Fatalf("cap %d step %d: sorted %v, want %v", capacity, i, w.sorted, want)
			}
			m := w.median()
			if got, want := w.mad(m), bruteMAD(recent, m); got != want {
				t.Fatalf("cap %d step %d: mad %v, want %v", capacity, i, got, want)
			}
			for j := range recent {
				if got := w.ring.at(j); got != recent[j] {
					t.Fatalf("cap %d step %d: ring.at(%d) = %v", capacity, i, j, got)
				}
			}
		}
	}
}

func TestQuantile(t *testing.T) {
	w := newSortedWindow(5)
	for _, v := range []float64{4, 0, 3, 1, 2} {
		w.push(v)
	}
	tests := []struct{ q, want float64 }{
		{0, 0}, {0.25, 1}, {0.5, 2}, {0.6, 2.4}, {1, 4},
	}
	for _, tc := range tests {
		if got := w.quantile(tc.q); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestChiSquare(t *testing.T) {
	// Textbook critical values.
	tests := []struct{ x, k, p float64 }{
		{3.841459, 1, 0.95},
		{9.487729, 4, 0.95},
		{13.276704, 4, 0.99},
		{23.209251, 10, 0.99},
		{0.710723, 4, 0.05},
	}
	for _, tc := range tests {
		if got := chiSquareCDF(tc.x, tc.k); math.Abs(got-tc.p) > 1e-6 {
			t.Errorf("chiSquareCDF(%v, %v) = %v, want %v", tc.x, tc.k, got, tc.p)
		}
		if got := chiSquareQuantile(tc.p, tc.k); math.Abs(got-tc.x) > 1e-5 {
			t.Errorf("chiSquareQuantile(%v, %v) = %v, want %v", tc.p, tc.k, got, tc.x)
		}
	}
}

func TestSuppress(t *testing.T) {
	// A burst of alarms: the first passes, the refractory period silences
	// the rest, then only a score above the decayed ceiling gets through.
	sup := newSuppressor(10)
	refr := 0
	in := []float64{0.2, 0.8, 0.9, 0.9, 0.3, 0.3, 0.3, 0.3}
	want := []float64{0.2, 0.8, 0, 0, 0, 0, 0, 0}
	for i, s := range in {
		if got := suppress(&sup, &refr, 3, s); got != want[i] {
			t.Fatalf("step %d: %v, want %v", i, got, want[i])
		}
	}
	// Long after, the ceiling has decayed: a moderate score passes again.
	for range 200 {
		suppress(&sup, &refr, 3, 0)
	}
	if got := suppress(&sup, &refr, 3, 0.6); got != 0.6 {
		t.Fatalf("after decay: %v, want 0.6", got)
	}
}

// madMerge is mad as it was: a merge from m outwards over half the window.
func madMerge(s []float64, m float64) float64 {
	n := len(s)
	if n == 0 {
		return 0
	}
	hi := sort.SearchFloat64s(s, m)
	lo := hi - 1
	kLo, kHi := (n-1)/2, n/2
	var a, b float64
	for k := 0; k <= kHi; k++ {
		var d float64
		if lo >= 0 && (hi >= n || m-s[lo] <= s[hi]-m) {
			d = m - s[lo]
			lo--
		} else {
			d = s[hi] - m
			hi++
		}
		if k == kLo {
			a = d
		}
		if k == kHi {
			b = d
		}
	}
	return (a + b) / 2
}

// The bisection gives the merge's MAD bit for bit, from m anywhere (the
// median, a value of the window, outside it), with ties, zeros of both
// signs and every length up to 60.
func TestMADMatchesMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 13))
	for round := 0; round < 20000; round++ {
		n := rng.IntN(61)
		s := make([]float64, n)
		for i := range s {
			switch rng.IntN(4) {
			case 0:
				s[i] = float64(rng.IntN(5)) - 2
			case 1:
				s[i] = math.Copysign(0, -1)
			default:
				s[i] = rng.NormFloat64() * 1e3
			}
		}
		slices.Sort(s)
		w := sortedWindow{sorted: s}
		ms := []float64{w.median(), rng.NormFloat64() * 2e3, 0, math.Copysign(0, -1)}
		if n > 0 {
			ms = append(ms, s[rng.IntN(n)])
		}
		for _, m := range ms {
			got, want := w.mad(m), madMerge(s, m)
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("round %d: mad(%v) of %v = %v, want %v", round, m, s, got, want)
			}
		}
	}
}
