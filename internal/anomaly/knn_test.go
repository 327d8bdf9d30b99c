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
		d.add(v)
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

// peakCalib's evidence is the ratio to the peak of the earlier values,
// which halves every half-life, and 0 during its warm-up.
func TestPeakCalib(t *testing.T) {
	p := newPeakCalib(2, 1) // half-life 2 values; the first only sets the peak
	r := math.Sqrt(0.5)     // the peak's factor per value
	steps := []struct{ ncm, want float64 }{
		{4, 0},                   // warm-up; peak 4
		{1, 1 / (4 * r)},         // peak 4 decayed one value
		{0, 0},                   // nothing; peak 4r² = 2
		{8, 8 / (4 * r * r * r)}, // a new peak
		{4, 4 / (8 * r)},
	}
	for i, s := range steps {
		if got := p.evidence(s.ncm); math.Abs(got-s.want) > 1e-12 {
			t.Errorf("step %d: evidence %v, want %v", i, got, s.want)
		}
	}
	// After two half-lives with nothing new, the peak is a quarter.
	p.reset()
	for _, v := range []float64{4, 0, 0, 0} {
		p.evidence(v)
	}
	if got := p.evidence(1); math.Abs(got-1) > 1e-12 {
		t.Errorf("after two half-lives: evidence %v, want 1", got)
	}
}

// On a long bursty stream (noise with a spike every 1000 values), the
// largest of the last Calib non-conformities forgets the bursts and is
// beaten by chance between them; a slowly decaying peak remembers them, so
// only spikes beat it, and a larger spike still does.
func TestKNNPeakQuietBetweenBursts(t *testing.T) {
	const n, every = 20000, 1000
	const big = n - 100
	spikes := map[int]float64{big: 40}
	for i := every / 2; i < n; i += every {
		spikes[i] = 15
	}
	vals := wave(n, 7, 0, spikes)
	alarms := func(cfg KNNConfig) (chance int, atBig bool) {
		d := NewKNN(cfg)
		last := -n // the last spike at or before i
		for i, v := range vals {
			if spikes[i] > 0 {
				last = i
			}
			if d.Score(v) < 0.5 {
				continue
			}
			if i-last >= cfg.Dim { // no spike in the context
				chance++
			}
			if last == big {
				atBig = true
			}
		}
		return chance, atBig
	}
	window := DefaultKNNConfig()
	peak := window
	peak.PeakHalfLife = 8000
	wChance, _ := alarms(window)
	pChance, pBig := alarms(peak)
	t.Logf("alarms away from spikes: window %d, peak %d", wChance, pChance)
	if wChance < 5 {
		t.Errorf("window calibration: %d chance alarms; the stream should produce some", wChance)
	}
	if pChance != 0 {
		t.Errorf("peak calibration: %d chance alarms, want 0", pChance)
	}
	if !pBig {
		t.Error("peak calibration: no alarm at the larger spike")
	}
}

// A KNN detector gives, value after value, the very bits of one whose
// non-conformity is the two-pass reference (knnRef, ref_test.go), both
// with and without the calibration peak, through warm-up, every full
// recomputation and the ring's wrap.
func TestKNNMatchesTwoPass(t *testing.T) {
	for _, cfg := range []KNNConfig{DefaultKNNConfig(), {Dim: 3, K: 2, History: 20, Calib: 10, HalfLife: 5, Refractory: 3},
		{Dim: 5, K: 4, History: 40, Calib: 16, PeakHalfLife: 50}} {
		// ref's non-conformity is knnRef's (ref_test.go), calibrated and
		// suppressed by cal's state.
		fast, ref, cal := NewKNN(cfg), newKNNRef(cfg), NewKNN(cfg)
		rng := rand.New(rand.NewPCG(5, 13))
		for i := 0; i < 3000; i++ {
			v := math.Sin(float64(i)/7) + rng.NormFloat64()*0.1
			if i%(211+i%5) == 0 {
				v += 5 // spikes
			}
			if i%50 < 3 {
				v = 1 // ties
			}
			got := fast.Score(v)
			// ref.Score with the reference non-conformity.
			x := 0.0
			if ncm, ok := ref.update(v); ok {
				x = cal.calibrate(ncm)
			}
			want := suppress(&cal.sup, &cal.refr, cal.cfg.Refractory, evidence(x))
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("%+v, value %d: score %v, want %v", cfg, i, got, want)
			}
		}
	}
}
