package forecast

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// daily is a day-periodic load with noise: 100 at night, 1000 at noon.
func daily(rng *rand.Rand, t time.Duration, noise float64) float64 {
	day := float64(t%(24*time.Hour)) / float64(24*time.Hour)
	v := 550 - 450*math.Cos(2*math.Pi*day)
	return v * (1 + noise*rng.NormFloat64())
}

// run feeds days of a series and scores, on the last day, the upper bound
// for horizon h against the true peak of the next h.
func run(t *testing.T, days int, h time.Duration, f func(time.Duration) float64) (cov, lateRise float64, fc Forecast) {
	t.Helper()
	fo := New(Options{})
	step := fo.Step()
	n := int(time.Duration(days) * 24 * time.Hour / step)
	ys := make([]float64, n)
	for i := range ys {
		ys[i] = f(time.Duration(i) * step)
	}
	hs := fo.Steps(h)
	var hits, total, lead, rises float64
	for i := 0; i+hs < n; i++ {
		fo.Observe(t0.Add(time.Duration(i)*step), ys[i])
		fc = fo.Peak(h)
		if i < n-int(24*time.Hour/step) {
			continue
		}
		peak := 0.0
		for j := 1; j <= hs; j++ {
			peak = max(peak, ys[i+j])
		}
		total++
		if peak <= fc.Upper {
			hits++
		}
		if peak > ys[i]*1.02 { // a rise is coming: did the forecast see it?
			rises++
			if fc.Point > ys[i] {
				lead++
			}
		}
	}
	return hits / total, lead / max(rises, 1), fc
}

func TestDailySeasonCoveredAndAhead(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cov, ahead, fc := run(t, 3, 2*time.Minute, func(d time.Duration) float64 { return daily(rng, d, 0.03) })
	if cov < 0.88 || cov > 0.995 {
		t.Errorf("coverage of the 95 %% bound on day 3 = %.3f, want near 0.95", cov)
	}
	if !fc.Healthy || fc.MASE >= 1 {
		t.Errorf("forecast not healthy at the end: %+v", fc)
	}
	if ahead < 0.6 {
		t.Errorf("the point forecast was above the last value before only %.0f %% of rises", ahead*100)
	}
}

func TestSpikyNoiseStillCovered(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cov, _, fc := run(t, 2, 100*time.Second, func(d time.Duration) float64 {
		v := daily(rng, d, 0.1)
		if rng.Float64() < 0.01 {
			v *= 1.5
		}
		return v
	})
	if cov < 0.85 {
		t.Errorf("coverage with spikes = %.3f, want >= 0.85", cov)
	}
	if fc.Errors == 0 || fc.Upper < fc.Point {
		t.Errorf("upper under point or no errors: %+v", fc)
	}
}

func TestConstantIsExact(t *testing.T) {
	fo := New(Options{})
	for i := 0; i < 200; i++ {
		fo.Observe(t0.Add(time.Duration(i)*10*time.Second), 42)
		fo.Peak(time.Minute)
	}
	fc := fo.Peak(time.Minute)
	if math.Abs(fc.Point-42) > 1e-6 || math.Abs(fc.Upper-42) > 1e-6 || !fc.Healthy {
		t.Errorf("constant 42: %+v", fc)
	}
}

func TestLearningUntilEnoughErrors(t *testing.T) {
	fo := New(Options{MinErrors: 30})
	fc := fo.Peak(time.Minute)
	if fc.Healthy || fc.Why != "no data yet" {
		t.Errorf("before any data: %+v", fc)
	}
	for i := 0; i < 20; i++ {
		fo.Observe(t0.Add(time.Duration(i)*10*time.Second), float64(i))
		fc = fo.Peak(time.Minute)
	}
	if fc.Healthy || fc.Why != "learning" {
		t.Errorf("after 20 samples: %+v", fc)
	}
	if fc.Naive != 19 {
		t.Errorf("naive = %v, want the last value 19", fc.Naive)
	}
}

// A noisy random walk has no structure to find: the ensemble must not do
// much worse than naive, and says so when it does.
func TestRandomWalkNotMuchWorseThanNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	fo := New(Options{})
	y := 500.0
	var fc Forecast
	for i := 0; i < 5000; i++ {
		y = max(1, y+20*rng.NormFloat64())
		fo.Observe(t0.Add(time.Duration(i)*10*time.Second), y)
		fc = fo.Peak(time.Minute)
	}
	if fc.MASE > 1.1 {
		t.Errorf("MASE on a random walk = %.3f", fc.MASE)
	}
	if fc.MASE > 1 && fc.Healthy {
		t.Errorf("worse than naive but healthy: %+v", fc)
	}
}

func TestLateAndRepeatedSamplesIgnored(t *testing.T) {
	fo := New(Options{})
	fo.Observe(t0, 10)
	fo.Observe(t0.Add(10*time.Second), 20)
	fo.Observe(t0.Add(10*time.Second), 1000) // repeated step
	fo.Observe(t0.Add(5*time.Second), 1000)  // late
	fo.Observe(t0.Add(20*time.Second), math.NaN())
	if fc := fo.Peak(time.Minute); fc.Naive != 20 {
		t.Errorf("naive = %v, want 20", fc.Naive)
	}
	// A gap of several steps resolves the forecasts that fell due in it.
	fo.Observe(t0.Add(30*time.Second), 20)
	fo.Peak(20 * time.Second)
	fo.Observe(t0.Add(40*time.Second), 20)
	fo.Observe(t0.Add(10*time.Minute), 30)
	if tr := fo.tracks[2]; tr == nil || len(tr.pending) != 1 || tr.n == 0 {
		t.Fatalf("after a gap: %+v", fo.tracks[2])
	}
}

func TestSeasonalMemoryNeverReadsStaleSlot(t *testing.T) {
	s := newSeasonal(time.Hour, time.Minute)
	s.add(t0, 5)
	if v, ok := s.at(t0); !ok || v != 5 {
		t.Fatalf("at = %v %v", v, ok)
	}
	if _, ok := s.at(t0.Add(time.Hour)); ok {
		t.Error("a slot from one period ago read as now")
	}
	// Before 1970 too (a clock at zero in a test).
	old := time.Unix(-90, 0)
	s.add(old, 7)
	if v, ok := s.at(old); !ok || v != 7 {
		t.Errorf("before the epoch: %v %v", v, ok)
	}
}

func BenchmarkObservePeak(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	fo := New(Options{})
	for i := 0; b.Loop(); i++ {
		d := time.Duration(i) * 10 * time.Second
		fo.Observe(t0.Add(d), daily(rng, d, 0.05))
		fo.Peak(20 * time.Second)
		fo.Peak(2 * time.Minute)
	}
}

func TestCloneIsIndependent(t *testing.T) {
	fo := New(Options{})
	for i := 0; i < 100; i++ {
		fo.Observe(t0.Add(time.Duration(i)*10*time.Second), float64(i))
		fo.Peak(time.Minute)
	}
	want := fo.Peak(time.Minute)
	c := fo.Clone()
	for i := 100; i < 200; i++ {
		c.Observe(t0.Add(time.Duration(i)*10*time.Second), 1e6)
		c.Peak(time.Minute)
	}
	if got := fo.Peak(time.Minute); got != want {
		t.Errorf("the clone's samples changed the original: %+v, was %+v", got, want)
	}
}

// ramp is a load that repeats every period: 100 req/s, a rise to 400 over
// 6 s from 20 s into the period, held 10 s, and back.
func ramp(period, at time.Duration) float64 {
	x := at % period
	switch {
	case x < 20*time.Second || x >= 36*time.Second:
		return 100
	case x < 26*time.Second:
		return 100 + 300*float64(x-20*time.Second)/float64(6*time.Second)
	default:
		return 400
	}
}

// A load that repeats with a short, known period: with that season (and a
// bucket fine enough), once two periods were seen, the third rise is
// forecast a horizon ahead, trusted; with the default seasons (a day and a
// week) it is not.
func TestShortSeasonLearned(t *testing.T) {
	const period, step, h = 50 * time.Second, 2 * time.Second, 14 * time.Second
	feed := func(o Options) (before, at Forecast) {
		fo := New(o)
		// Up to h before the third ramp's top (2 x period + 26 s).
		end := 2*period + 26*time.Second - h
		for d := time.Duration(0); d <= end; d += step {
			fo.Observe(t0.Add(d), ramp(period, d))
			at = fo.Peak(h)
			if d == end-step {
				before = at
			}
		}
		return before, at
	}
	_, fc := feed(Options{Step: step, Seasons: []time.Duration{period}, Bucket: step})
	if fc.Point < 390 || fc.Upper < 390 || !fc.Healthy {
		t.Errorf("season %s: %s before the third rise to 400 the forecast is %+v, want healthy and at least 390", period, h, fc)
	}
	_, fc = feed(Options{Step: step})
	if fc.Point > 150 {
		t.Errorf("default seasons: the forecast %s before the third rise is %+v: it cannot have learned a 50 s period", h, fc)
	}
}

// A gap in the series (a busy host's metrics miss ticks while replicas
// start, just after a rise) does not blind the season's memory: what is
// known of the span one season ago is used.
func TestShortSeasonWithGaps(t *testing.T) {
	const period, step, h = 50 * time.Second, 2 * time.Second, 14 * time.Second
	fo := New(Options{Step: step, Seasons: []time.Duration{period}, Bucket: step})
	end := 2*period + 12*time.Second // 14 s before the third ramp's top at 126 s
	var fc Forecast
	for d := time.Duration(0); d <= end; d += step {
		if x := d % period; x >= 24*time.Second && x < 32*time.Second {
			continue // no sample from 4 s into each rise to its top's 6th second
		}
		fo.Observe(t0.Add(d), ramp(period, d))
		fc = fo.Peak(h)
	}
	if fc.Point < 150 {
		t.Errorf("%s before the third ramp's top, with a gap in the last one: forecast %+v, want the rise seen before the gap (200)", h, fc)
	}
}

// A season whose whole rise went unseen (a gap in the second period) is
// recalled from the one before, which a short season's memory still holds.
func TestShortSeasonRecallsTheSeasonBefore(t *testing.T) {
	const period, step, h = 50 * time.Second, 2 * time.Second, 14 * time.Second
	fo := New(Options{Step: step, Seasons: []time.Duration{period}, Bucket: step})
	var fc Forecast
	for d := time.Duration(0); d <= 2*period+12*time.Second; d += step {
		if d >= period+16*time.Second && d < period+40*time.Second {
			continue // the second ramp unseen
		}
		fo.Observe(t0.Add(d), ramp(period, d))
		fc = fo.Peak(h)
	}
	if fc.Point < 250 {
		t.Errorf("%s before the third ramp's top, the second unseen: forecast %+v, want the first's rise (to 400)", h, fc)
	}
}

// band.add replaces the oldest error in its sorted copy in place: after
// every add, sorted is the ring's values in order, with ties and with new
// values below, between and above the old ones.
func TestBandSortedIsTheRingSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := &band{power: 1, window: 50}
	for n := 0; n < 2000; n++ {
		e := float64(rng.IntN(40)) - 20 // ties are common
		if n%7 == 0 {
			e = rng.NormFloat64() * 100
		}
		b.add(e)
		want := slices.Clone(b.ring)
		slices.Sort(want)
		if !slices.Equal(b.sorted, want) {
			t.Fatalf("after %d adds: sorted %v, ring sorted %v", n+1, b.sorted, want)
		}
	}
}
