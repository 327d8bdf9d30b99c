package anomaly

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/hoist/hoist/internal/cputime"
)

// series builds a deterministic test stream: a daily-like sine plus noise,
// n points long, with optional spikes added at the given indexes.
func series(n int, seed uint64, spikes map[int]float64) []float64 {
	return wave(n, seed, 10, spikes)
}

// wave is series with the sine's amplitude as a parameter (0: white noise).
func wave(n int, seed uint64, amplitude float64, spikes map[int]float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]float64, n)
	for i := range out {
		out[i] = 50 + amplitude*math.Sin(2*math.Pi*float64(i)/96) + rng.NormFloat64()
		out[i] += spikes[i]
	}
	return out
}

func mustNew(t testing.TB, name string) Detector {
	t.Helper()
	d, err := New(name)
	if err != nil {
		t.Fatalf("New(%q): %v", name, err)
	}
	return d
}

func TestRegistry(t *testing.T) {
	want := []string{"ensemble", "knn", "records", "relentropy", "robustz"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	if _, err := New("nope"); err == nil {
		t.Fatal("New(nope): want an error")
	}
	if _, ok := mustNew(t, Default).(*Ensemble); !ok {
		t.Fatalf("New(%q) is not the ensemble", Default)
	}
	// Each call returns an independent detector.
	a, b := mustNew(t, "records"), mustNew(t, "records")
	if a == b {
		t.Fatal("New returned the same detector twice")
	}
}

func TestScoresInRange(t *testing.T) {
	inputs := map[string][]float64{
		"sine":     series(3000, 1, nil),
		"constant": slices.Repeat([]float64{7}, 3000),
		"zeros":    make([]float64, 3000),
		"steps":    append(slices.Repeat([]float64{1}, 1500), slices.Repeat([]float64{1e9}, 1500)...),
		"weird":    append(series(1000, 2, nil), math.NaN(), math.Inf(1), math.Inf(-1), -1e300, 1e300, 0),
	}
	for _, name := range Names() {
		for in, values := range inputs {
			d := mustNew(t, name)
			for i, v := range values {
				s := d.Score(v)
				if !(s >= 0 && s <= 1) {
					t.Fatalf("%s on %s: score %v at %d is outside [0, 1]", name, in, s, i)
				}
			}
		}
	}
}

func TestWarmupScoresZero(t *testing.T) {
	values := series(100, 3, nil)
	for _, name := range Names() {
		d := mustNew(t, name)
		for i, v := range values {
			if s := d.Score(v); s != 0 {
				t.Fatalf("%s: score %v at %d, inside its warm-up", name, s, i)
			}
		}
	}
}

func TestDetectsSpike(t *testing.T) {
	// White noise: even the relative-entropy detector, which keeps
	// learning new distributions on a sine, is quiet before the spike.
	const at = 2500
	values := wave(3000, 4, 0, map[int]float64{at: 20})
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			d := mustNew(t, name)
			first := -1
			for i, v := range values {
				if s := d.Score(v); s >= 0.5 && i >= at && first < 0 {
					first = i
				}
			}
			// The value closes the KNN subsequence, so all see it at once.
			if first != at {
				t.Fatalf("first alarm at or after the spike at %d: %d", at, first)
			}
		})
	}
}

func TestQuietOnRegularSeries(t *testing.T) {
	// Sine plus modest noise has no anomaly: after a generous burn-in the
	// record-based detectors should stay below their alarm level.
	values := series(6000, 5, nil)
	for _, name := range []string{"records", "ensemble"} {
		d := mustNew(t, name)
		alarms := 0
		for i, v := range values {
			if s := d.Score(v); s >= 0.5 && i > 3000 {
				alarms++
			}
		}
		if alarms > 2 {
			t.Errorf("%s: %d alarms on a regular series after the burn-in", name, alarms)
		}
	}
}

func TestOneAlertPerEpisode(t *testing.T) {
	// A level shift keeps every feature breaking records for a while; the
	// detectors must report it once, not on every point.
	values := series(3000, 6, nil)
	for i := 2500; i < 2600; i++ {
		values[i] += 100
	}
	for _, name := range Names() {
		d := mustNew(t, name)
		alarms := 0
		for i, v := range values {
			if s := d.Score(v); s >= 0.5 && i >= 2500 && i < 2530 {
				alarms++
			}
		}
		if alarms != 1 {
			t.Errorf("%s: %d alarms in the first 30 points of a shift, want 1", name, alarms)
		}
	}
}

func TestResetRestarts(t *testing.T) {
	values := series(2000, 7, map[int]float64{1500: 80})
	for _, name := range Names() {
		fresh, reused := mustNew(t, name), mustNew(t, name)
		for _, v := range series(1000, 8, nil) {
			reused.Score(v)
		}
		reused.Reset()
		for i, v := range values {
			if a, b := fresh.Score(v), reused.Score(v); a != b {
				t.Fatalf("%s: after Reset score %v, fresh %v at %d", name, b, a, i)
			}
		}
	}
}

func TestNoAllocation(t *testing.T) {
	values := series(4000, 9, map[int]float64{3500: 50})
	for _, name := range Names() {
		d := mustNew(t, name)
		for _, v := range values[:3000] {
			d.Score(v)
		}
		i := 3000
		allocs := testing.AllocsPerRun(1000, func() {
			d.Score(values[i%len(values)])
			i++
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Score, want 0", name, allocs)
		}
	}
}

// BenchmarkDetector reports the cost of one Score call (one point) per
// detector, in steady state: ns/op (wall time) and, on Linux, cpu-ns/op,
// the benchmark thread's CPU time, which stays meaningful on a shared,
// busy machine.
func BenchmarkDetector(b *testing.B) {
	values := series(1<<14, 10, map[int]float64{5000: 60, 12000: -60})
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			d := mustNew(b, name)
			for _, v := range values[:4000] {
				d.Score(v)
			}
			b.ReportAllocs()
			cpu0, ok0 := cputime.Thread()
			b.ResetTimer()
			n := 0
			for i := 0; b.Loop(); i++ {
				d.Score(values[i&(len(values)-1)])
				n++
			}
			b.StopTimer()
			if cpu1, ok1 := cputime.Thread(); ok0 && ok1 && n > 0 {
				b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(n), "cpu-ns/op")
			}
		})
	}
}
