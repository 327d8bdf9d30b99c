package policy

import (
	"testing"
	"time"

	"github.com/hoist/hoist/internal/config"
)

var t0 = time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)

func dur(d time.Duration) *config.Duration { c := config.Duration(d); return &c }
func f(v float64) *float64                 { return &v }
func i(v int) *int                         { return &v }

// hpa returns a target policy with Kubernetes HPA's defaults.
func hpa(target float64) *config.Policy {
	p := &config.Policy{Type: config.PolicyTarget, Metric: "cpu", Target: target}
	a := config.App{Policies: []config.Policy{*p}}
	a.SetDefaults()
	return &a.Policies[0]
}

func TestTargetFormula(t *testing.T) {
	cases := []struct {
		name           string
		current, ready int
		value          float64
		want           int
	}{
		// ceil(4 x 90/60) = ceil(6) = 6
		{"scale up", 4, 4, 90, 6},
		// ceil(4 x 91/60) = ceil(6.07) = 7
		{"round up", 4, 4, 91, 7},
		// 65/60 = 1.083, within the 0.1 tolerance: no change
		{"within tolerance above", 4, 4, 65, 4},
		// 55/60 = 0.917, within tolerance
		{"within tolerance below", 4, 4, 55, 4},
		// 66.1/60 = 1.1017 > 1.1: ceil(4 x 1.1017) = 5
		{"just outside tolerance", 4, 4, 66.1, 5},
		// not-yet-running replicas do not count: ceil(2 x 120/60) = 4 although 3 are desired
		{"ready, not desired, replicas count", 3, 2, 120, 4},
		// scale-up is limited to max(2x, +4) per 15s: 2 -> at most 6
		{"rate limited", 2, 2, 600, 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var st TargetState
			rec := Target(hpa(60), &st, Input{Now: t0, Current: tc.current, Ready: tc.ready, Value: tc.value, HasValue: true})
			if rec.Replicas != tc.want || rec.NoData {
				t.Fatalf("got %d (%s), want %d", rec.Replicas, rec.Reason, tc.want)
			}
		})
	}
}

func TestTargetNoData(t *testing.T) {
	var st TargetState
	for _, in := range []Input{{Now: t0, Current: 5, Ready: 5}, {Now: t0, Current: 5, Ready: 0, Value: 10, HasValue: true}} {
		rec := Target(hpa(60), &st, in)
		if !rec.NoData || rec.Replicas != 5 {
			t.Errorf("%+v: got %+v, want no data at 5", in, rec)
		}
	}
}

// Scale-down takes the highest recommendation of the last 5 minutes: a load
// drop lowers replicas only 5 minutes later, and a short dip never does.
func TestTargetDownStabilisation(t *testing.T) {
	p := hpa(60)
	var st TargetState
	step := func(at time.Duration, cur int, v float64) int {
		return Target(p, &st, Input{Now: t0.Add(at), Current: cur, Ready: cur, Value: v, HasValue: true}).Replicas
	}
	if got := step(0, 10, 60); got != 10 {
		t.Fatalf("steady: %d", got)
	}
	// Load halves at 15s: raw recommendation 5, but 10 was recommended within 5 min.
	for at := 15 * time.Second; at <= 5*time.Minute; at += 15 * time.Second {
		if got := step(at, 10, 30); got != 10 {
			t.Fatalf("at %s: scaled down to %d inside the stabilisation window", at, got)
		}
	}
	// 5m15s: the last recommendation of 10 (at 0s) has left the window.
	if got := step(5*time.Minute+15*time.Second, 10, 30); got != 5 {
		t.Fatalf("after the window: got %d, want 5", got)
	}
}

func TestTargetUpStabilisationAndRates(t *testing.T) {
	p := hpa(50)
	p.ScaleUp = &config.Behavior{Stabilization: dur(time.Minute), MaxReplicas: 2, Period: config.Duration(time.Minute)}
	var st TargetState
	in := func(at time.Duration, cur int, v float64, changes ...Change) Input {
		return Input{Now: t0.Add(at), Current: cur, Ready: cur, Value: v, HasValue: true, Changes: changes}
	}
	// A first spike recommends 8, but up-stabilisation takes the lowest of the
	// last minute, which includes this same spike only: 8, then rate limit +2.
	if got := Target(p, &st, in(0, 4, 100)).Replicas; got != 6 {
		t.Fatalf("rate limit: got %d, want 6", got)
	}
	// The spike is gone 15 s later (raw 4): stabilisation takes the min = 4: no change.
	if got := Target(p, &st, in(15*time.Second, 6, 33)).Replicas; got != 6 {
		t.Fatalf("after spike: got %d, want 6 (no scale-down: the down window holds 8)", got)
	}
	// Rate limit counts changes inside the period: 2 added 30 s ago leave no room.
	st = TargetState{}
	rec := Target(p, &st, in(time.Minute, 6, 100, Change{Time: t0.Add(30 * time.Second), Delta: 2}))
	if rec.Replicas != 6 {
		t.Fatalf("period budget used: got %d, want 6", rec.Replicas)
	}
}

func TestThreshold(t *testing.T) {
	p := &config.Policy{Type: config.PolicyThreshold, Metric: "cpu", Upper: 80, Lower: f(20), For: config.Duration(30 * time.Second), DownFor: config.Duration(60 * time.Second), StepUp: 2, StepDown: 1}
	var st ThresholdState
	at := func(s int, cur int, v float64) Recommendation {
		return Threshold(p, &st, Input{Now: t0.Add(time.Duration(s) * time.Second), Current: cur, Value: v, HasValue: true})
	}
	steps := []struct {
		sec  int
		cur  int
		v    float64
		want int
	}{
		{0, 3, 90, 3},   // above, for 0s
		{20, 3, 95, 3},  // above for 20s < 30s
		{30, 3, 85, 5},  // above for 30s: +2
		{40, 5, 85, 7},  // still firing: the alert repeats (cooldowns pace it)
		{50, 7, 50, 7},  // back in band: timers reset
		{60, 7, 90, 7},  // above again, from 0
		{70, 7, 10, 7},  // below, from 0
		{120, 7, 10, 7}, // below for 50s < 60s
		{130, 7, 10, 6}, // below for 60s: -1
	}
	for _, s := range steps {
		if got := at(s.sec, s.cur, s.v).Replicas; got != s.want {
			t.Fatalf("t=%ds v=%g: got %d, want %d", s.sec, s.v, got, s.want)
		}
	}
	// Missing data resets and never recommends a change.
	rec := Threshold(p, &st, Input{Now: t0.Add(200 * time.Second), Current: 6})
	if !rec.NoData || rec.Replicas != 6 || !st.BelowSince.IsZero() {
		t.Fatalf("no data: %+v state %+v", rec, st)
	}
}

func TestSchedule(t *testing.T) {
	p := &config.Policy{Type: config.PolicySchedule, Timezone: "Europe/Budapest", Windows: []config.Window{
		{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "08:00", End: "18:00", Min: i(4)},
		{Days: []string{"fri"}, Start: "22:00", End: "02:00", Min: i(2), Max: i(3)},
	}}
	loc, _ := time.LoadLocation("Europe/Budapest")
	cases := []struct {
		when     time.Time
		active   bool
		min, max int
	}{
		{time.Date(2026, 1, 5, 8, 0, 0, 0, loc), true, 4, 0},       // Monday 08:00 local
		{time.Date(2026, 1, 5, 7, 59, 0, 0, loc), false, 0, 0},     // before
		{time.Date(2026, 1, 5, 18, 0, 0, 0, loc), false, 0, 0},     // end is exclusive
		{time.Date(2026, 1, 10, 12, 0, 0, 0, loc), false, 0, 0},    // Saturday
		{time.Date(2026, 1, 9, 23, 0, 0, 0, loc), true, 2, 3},      // Friday night
		{time.Date(2026, 1, 10, 1, 30, 0, 0, loc), true, 2, 3},     // crosses midnight into Saturday
		{time.Date(2026, 1, 6, 1, 30, 0, 0, loc), false, 0, 0},     // Tuesday early: Monday night has no window
		{time.Date(2026, 1, 5, 7, 30, 0, 0, time.UTC), true, 4, 0}, // 08:30 in Budapest
	}
	for _, c := range cases {
		b, ok := Schedule(p, c.when)
		if ok != c.active || (ok && (b.Min != c.min || b.Max != c.max)) {
			t.Errorf("%s: got %+v active=%v, want active=%v min %d max %d", c.when, b, ok, c.active, c.min, c.max)
		}
	}
}
