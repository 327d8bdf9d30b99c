package policy

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/forecast"
)

// world is a test's stand-in for a cluster: replicas that are single-server
// queues with cost seconds of CPU per request (p95 = ln 20 x service time /
// (1 - u)). The model under test sees only the resulting rate, CPU and p95.
func world(rate float64, replicas int, cost float64) Observation {
	r := rate / float64(replicas)
	u := min(r*cost, 0.99)
	return Observation{RPS: r, CPU: u * 100, P95: math.Log(20) * cost / (1 - u), HasRPS: true, HasCPU: true, HasP95: true, Running: replicas}
}

func TestCapacityModelLearnsTheSLOUtilisation(t *testing.T) {
	var m CapacityModel
	slo := 250 * time.Millisecond
	for i := 0; i < 5; i++ {
		m.Observe(world(300+float64(i)*20, 10, 0.02))
	}
	c := m.Capacity(slo, 1, 0.6)
	if c.Learned || math.Abs(c.PerReplica-30) > 0.01 {
		t.Fatalf("with 5 observations want the fallback (60 %% of 50 req/s = 30), got %+v", c)
	}
	for i := 0; i < 100; i++ {
		m.Observe(world(250+float64(i%10)*20, 10, 0.02))
	}
	c = m.Capacity(slo, 1, 0.6)
	// True: p95 = 250 ms at u = 1 - ln20 x 20 ms / 250 ms = 0.760, 38 req/s.
	if !c.Learned || c.PerReplica < 36 || c.PerReplica > 38.1 || c.Util > 0.761 {
		t.Fatalf("learned capacity %+v, want 36..38 req/s (the SLO's edge is 38)", c)
	}
	if got := m.Capacity(slo, 0.9, 0.6); math.Abs(got.Util-c.Util*0.9) > 1e-9 {
		t.Errorf("headroom 0.9: util %v, want %v", got.Util, c.Util*0.9)
	}
}

func TestCapacityModelRelearnsANewCost(t *testing.T) {
	var m CapacityModel
	slo := 250 * time.Millisecond
	for i := 0; i < 100; i++ {
		m.Observe(world(300+float64(i%7)*10, 10, 0.02))
	}
	before := m.Capacity(slo, 1, 0.6)
	changed := false
	for i := 0; i < 3; i++ {
		changed = m.Observe(world(200, 10, 0.04)) || changed // a new image: twice the CPU per request
	}
	if !changed || m.Resets != 1 {
		t.Fatalf("the doubled cost went unnoticed (resets %d)", m.Resets)
	}
	if c := m.Capacity(slo, 1, 0.6); c.Learned || math.Abs(c.PerReplica-15) > 0.5 {
		t.Errorf("just after the change want the fallback at the new cost (60 %% of 25 = 15), got %+v", c)
	}
	for i := 0; i < 100; i++ {
		m.Observe(world(150+float64(i%7)*10, 10, 0.04))
	}
	after := m.Capacity(slo, 1, 0.6)
	if !after.Learned || after.PerReplica > before.PerReplica*0.55 {
		t.Errorf("after relearning: %+v (before %+v)", after, before)
	}
	// One odd tick is noise, not a change.
	m.Observe(world(150, 10, 0.08))
	if m.Resets != 1 {
		t.Error("a single outlier reset the model")
	}
}

func TestCapacityModelIgnoresUnusableObservations(t *testing.T) {
	var m CapacityModel
	for _, o := range []Observation{
		{},
		{RPS: 10, HasRPS: true, Running: 1},
		{RPS: 0, CPU: 5, HasRPS: true, HasCPU: true, Running: 1},
		{RPS: 10, CPU: 50, HasRPS: true, HasCPU: true},
	} {
		m.Observe(o)
	}
	if c := m.Capacity(time.Second, 1, 0.6); c.PerReplica != 0 {
		t.Errorf("learned from unusable observations: %+v", c)
	}
}

type predictRun struct {
	st       PredictState
	set      PredictSettings
	now      time.Time
	replicas int
	cost     float64 // CPU seconds a request (0: 0.02)
}

func (r *predictRun) tick(rate float64) Prediction {
	cost := r.cost
	if cost == 0 {
		cost = 0.02
	}
	in := PredictInput{Input: Input{Now: r.now, Current: r.replicas, Ready: r.replicas}, Obs: world(rate, r.replicas, cost),
		Step: 10 * time.Second, Short: 20 * time.Second, Long: 2 * time.Minute}
	p := Predict(r.set, &r.st, in)
	if !p.NoData {
		r.replicas = p.Replicas
	}
	r.now = r.now.Add(10 * time.Second)
	return p
}

func TestPredictNoDataHolds(t *testing.T) {
	var st PredictState
	p := Predict(PredictSettings{SLO: 250 * time.Millisecond}, &st, PredictInput{Input: Input{Now: time.Unix(0, 0), Current: 5, Ready: 5}, Step: 10 * time.Second})
	if !p.NoData || p.Replicas != 5 {
		t.Errorf("without rate and CPU: %+v", p)
	}
}

// A ramp that repeats every hour: once the forecast has seen it, machines
// (Ahead) are asked for before the rise, and replicas never fall below what
// the rate needs now.
func TestPredictOrdersAheadOfARepeatedRamp(t *testing.T) {
	r := &predictRun{set: PredictSettings{SLO: 250 * time.Millisecond}, now: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), replicas: 5}
	// The forecaster's seasons are a day and a week: use a daily ramp.
	load := dailyRamp
	var aheadEarly, nowEarly int
	for d := time.Duration(0); d < 3*24*time.Hour; d += 10 * time.Second {
		rate := load(d)
		p := r.tick(rate)
		if need := int(math.Ceil(rate / p.Capacity.PerReplica)); p.Replicas < need {
			t.Fatalf("at %s: %d replicas, the rate needs %d", d, p.Replicas, need)
		}
		if d == 2*24*time.Hour+10*time.Hour-time.Minute {
			aheadEarly, nowEarly = p.Ahead, p.Replicas
			if r.st.Mode != "predictive" {
				t.Errorf("on day 3 the policy is %s: %s", r.st.Mode, r.st.ModeWhy)
			}
		}
	}
	if aheadEarly <= nowEarly+1 {
		t.Errorf("a minute before the third ramp: ahead %d, replicas %d; want machines asked for ahead", aheadEarly, nowEarly)
	}
}

// A new cost per request (the capacity model learns again) leaves the
// forecast of the request rate trusted: the policy is reactive for that
// tick only, and a ramp the forecast knows still gets its machines ahead.
func TestPredictCostChangeKeepsTheForecastsTrust(t *testing.T) {
	r := &predictRun{set: PredictSettings{SLO: 250 * time.Millisecond}, now: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), replicas: 5}
	third := 2*24*time.Hour + 10*time.Hour // the third ramp's rise
	changed := false
	for d := time.Duration(0); d < third-time.Minute; d += 10 * time.Second {
		if d == third-10*time.Minute {
			r.cost = 0.03 // +50 %: a new image
		}
		p := r.tick(dailyRamp(d))
		if p.ModeWhy == "cost per request changed: learning again" {
			if d < third-10*time.Minute {
				t.Fatalf("at %s the cost per request changed, but it had not", d)
			}
			changed = true
		}
	}
	if !changed {
		t.Fatal("the model did not see the cost per request change")
	}
	p := r.tick(dailyRamp(third - time.Minute))
	if r.st.Mode != "predictive" {
		t.Errorf("a minute before the third ramp, 9 min after the cost changed, the policy is %s: %s", r.st.Mode, r.st.ModeWhy)
	}
	if p.Ahead <= p.Replicas+1 {
		t.Errorf("a minute before the third ramp: ahead %d, replicas %d; want machines asked for ahead", p.Ahead, p.Replicas)
	}
}

// The mode switches only on a sustained condition, each way: a forecast
// hovering around naive's error (MASE 0.97 / 1.03 tick by tick) never
// flips it; entering needs MASE at most maseEnter for gateEnter ticks,
// leaving an unhealthy forecast for gateLeave ticks.
func TestModeSwitchesWithHysteresis(t *testing.T) {
	good := forecast.Forecast{Healthy: true, MASE: 0.8, Coverage: 0.98}
	edge := forecast.Forecast{Healthy: true, MASE: 0.9, Coverage: 0.98}
	bad := forecast.Forecast{Why: "worse than naive", MASE: 1.03, Coverage: 0.97}
	var g gate
	for i := 0; i < 10*gateEnter; i++ {
		if i%2 == 0 {
			g.step(edge, 0.98, gateEnter, gateLeave)
		} else {
			g.step(bad, 0.98, gateEnter, gateLeave)
		}
		if g.on {
			t.Fatalf("tick %d: trusted a forecast hovering around naive", i)
		}
	}
	for i := 0; i < 3*gateEnter; i++ {
		g.step(edge, 0.98, gateEnter, gateLeave) // healthy, but not by the margin
	}
	if g.on {
		t.Fatal("entered at MASE 0.9")
	}
	for i := 0; i < gateEnter-1; i++ {
		g.step(good, 0.98, gateEnter, gateLeave)
	}
	if g.on {
		t.Fatalf("entered after %d ticks, want %d", gateEnter-1, gateEnter)
	}
	g.step(good, 0.98, gateEnter, gateLeave)
	if !g.on || !strings.Contains(g.why, "beats naive") {
		t.Fatalf("not entered after %d good ticks: %+v", gateEnter, g)
	}
	for i := 0; i < 10*gateLeave; i++ {
		if i%3 == 0 {
			g.step(edge, 0.98, gateEnter, gateLeave) // a healthy tick resets the count
		} else {
			g.step(bad, 0.98, gateEnter, gateLeave)
		}
	}
	if !g.on {
		t.Fatal("left on a forecast unhealthy two ticks in three")
	}
	for i := 0; i < gateLeave; i++ {
		g.step(bad, 0.98, gateEnter, gateLeave)
	}
	if g.on || !strings.Contains(g.why, "worse than naive") {
		t.Fatalf("still trusted after %d unhealthy ticks: %+v", gateLeave, g)
	}
	// Coverage short of the quantile by more than the slack does not enter.
	for i := 0; i < 2*gateEnter; i++ {
		g.step(forecast.Forecast{Healthy: true, MASE: 0.7, Coverage: 0.9}, 0.98, gateEnter, gateLeave)
	}
	if g.on {
		t.Error("entered with coverage 90 % for a 98 % bound")
	}
}

// On a noisy load whose forecast never beats naive, the mode changes once
// (learning, then reactive for good) and so does the event.
func TestPredictModeDoesNotFlickerOnNoise(t *testing.T) {
	r := &predictRun{set: PredictSettings{SLO: 250 * time.Millisecond}, now: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), replicas: 10}
	rng := rand.New(rand.NewPCG(1, 2))
	modes, last := 0, ""
	for i := 0; i < 6*360; i++ {
		p := r.tick(300 + 60*rng.NormFloat64())
		if p.Mode != last {
			modes++
			last = p.Mode
		}
	}
	if modes > 2 {
		t.Errorf("the mode changed %d times in 6 h of noise", modes)
	}
}

func TestPredictScaleDownStabilised(t *testing.T) {
	r := &predictRun{set: PredictSettings{SLO: 250 * time.Millisecond, DownWindow: time.Minute}, now: time.Unix(0, 0), replicas: 20}
	for i := 0; i < 60; i++ {
		r.tick(600)
	}
	high := r.replicas
	r.tick(100)
	if r.replicas != high {
		t.Errorf("scaled down from %d to %d the tick the rate fell", high, r.replicas)
	}
	for i := 0; i < 7; i++ {
		r.tick(100)
	}
	if r.replicas >= high {
		t.Errorf("still %d replicas a window after the fall", r.replicas)
	}
}

// forecast_only makes and records the same forecast, but acts as the reactive
// fallback: before the third daily ramp the predictive policy asks for
// machines ahead, the forecast_only one does not.
func TestPredictForecastOnlyRecordsButReacts(t *testing.T) {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	on := &predictRun{set: PredictSettings{SLO: 250 * time.Millisecond}, now: start, replicas: 5}
	off := &predictRun{set: PredictSettings{SLO: 250 * time.Millisecond, ForecastOnly: true}, now: start, replicas: 5}
	load := dailyRamp
	for d := time.Duration(0); d <= 2*24*time.Hour+10*time.Hour-time.Minute; d += 10 * time.Second {
		pOn, pOff := on.tick(load(d)), off.tick(load(d))
		if pOff.Mode != "reactive" || pOff.ModeWhy != "forecast_only" {
			t.Fatalf("at %s forecast_only acts as %q (%s)", d, pOff.Mode, pOff.ModeWhy)
		}
		// (equal but for rounding: the rate is rate per replica x replicas,
		// and the two runs' replicas differ)
		if !nearlyEqual(pOn.Forecast.Upper, pOff.Forecast.Upper) || !nearlyEqual(pOn.Forecast.Coverage, pOff.Forecast.Coverage) {
			t.Fatalf("at %s the recorded forecasts differ: %+v and %+v", d, pOn.Forecast, pOff.Forecast)
		}
		if d == 2*24*time.Hour+10*time.Hour-time.Minute {
			if !pOff.Forecast.Healthy || pOn.Ahead <= pOn.Replicas+1 || pOff.Ahead >= pOn.Ahead {
				t.Errorf("before the ramp: predictive ahead %d (replicas %d), forecast_only ahead %d (forecast %+v)",
					pOn.Ahead, pOn.Replicas, pOff.Ahead, pOff.Forecast)
			}
		}
	}
}

func nearlyEqual(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(a), math.Abs(b)) }

// Replicas beyond the pool's room and beyond the firm need (headroom a new
// machine would come too late for) are not asked for; the firm need is, and
// the room is used.
func TestPredictHeadroomWaitsForRoom(t *testing.T) {
	r := &predictRun{set: PredictSettings{SLO: 250 * time.Millisecond, DownWindow: time.Nanosecond, KeepWindow: time.Nanosecond},
		now: time.Unix(0, 0), replicas: 8}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 360; i++ {
		r.tick(200 + 60*rng.NormFloat64())
	}
	cur := int(math.Ceil(200 / r.st.Model.Capacity(r.set.SLO, PredictHeadroom, 0.6).PerReplica))
	at := func(rate float64, room int) Prediction {
		st := r.st.Clone()
		return Predict(r.set, &st, PredictInput{Input: Input{Now: r.now, Current: cur, Ready: cur}, Obs: world(rate, cur, 0.02),
			Step: 10 * time.Second, Short: 20 * time.Second, Long: 2 * time.Minute, Room: room, RoomKnown: true})
	}
	free := at(200, 1000)
	if free.Replicas <= max(cur+1, free.Firm) {
		t.Fatalf("set-up: at 200 req/s with %d replicas the noise's headroom (%d) should exceed the firm need (%d) by 2: %s", cur, free.Replicas, free.Firm, free.Reason)
	}
	if mid := at(200, cur+1); mid.Replicas != max(cur+1, mid.Firm) {
		t.Errorf("room for %d: asked for %d (firm %d): %s", cur+1, mid.Replicas, mid.Firm, mid.Reason)
	}
	p := at(200, cur)
	if p.Replicas != max(cur, p.Firm) || p.Replicas >= free.Replicas || p.Ahead < p.Firm {
		t.Errorf("no room: asked for %d replicas (firm need %d, ahead %d, %d with room): %s", p.Replicas, p.Firm, p.Ahead, free.Replicas, p.Reason)
	}
	need := int(math.Ceil(400 / p.Capacity.PerReplica))
	if p := at(400, cur); p.Replicas < need {
		t.Errorf("a rate needing %d now got %d replicas without room: %s", need, p.Replicas, p.Reason)
	}
}

// Scale-in keeps room for the highest replicas asked for over KeepWindow,
// after the replicas themselves came down.
func TestPredictKeepsRoomAfterAFall(t *testing.T) {
	r := &predictRun{set: PredictSettings{SLO: 250 * time.Millisecond, DownWindow: time.Minute, KeepWindow: 10 * time.Minute}, now: time.Unix(0, 0), replicas: 20}
	for i := 0; i < 60; i++ {
		r.tick(600)
	}
	high := r.replicas
	var p Prediction
	for i := 0; i < 30; i++ { // 5 min
		p = r.tick(100)
	}
	if p.Replicas >= high || p.Keep < high {
		t.Errorf("5 min after the fall: replicas %d (were %d), keep %d", p.Replicas, high, p.Keep)
	}
	for i := 0; i < 40; i++ {
		p = r.tick(100)
	}
	if p.Keep >= high {
		t.Errorf("still keeping room for %d replicas after the keep window", p.Keep)
	}
}

// dailyRamp is a load that repeats every day: 100 req/s, a 15 min ramp to 900
// at 10:00, back to 100 at 14:00 (the forecaster's seasons are a day and a week).
func dailyRamp(d time.Duration) float64 {
	m := math.Mod(d.Hours(), 24)
	switch {
	case m < 10:
		return 100
	case m < 10.25:
		return 100 + 800*(m-10)/0.25
	case m < 14:
		return 900
	default:
		return 100
	}
}

// The quantile replicas are sized at moves by the SLO's error budget: up by
// gain x (1 - budget) after a tick over the SLO, down by gain x budget after
// one within it, only on ticks where every replica asked for ran, within
// its bounds; off (negative budget) it stays at Quantile.
func TestAdaptQuantileFollowsTheBudget(t *testing.T) {
	slo := 250 * time.Millisecond
	ok := Observation{P95: 0.2, HasP95: true}
	over := Observation{P95: 0.3, HasP95: true}
	all := PredictInput{Input: Input{Current: 4, Ready: 4}}
	starting := PredictInput{Input: Input{Current: 6, Ready: 4}}
	const b = 0.01
	cases := []struct {
		name   string
		budget float64
		from   float64
		obs    Observation
		in     PredictInput
		want   float64
	}{
		{"first tick starts at Quantile", b, 0, ok, all, 0.98 - PredictBudgetGain*b},
		{"within the SLO: down by gain x budget", b, 0.9, ok, all, 0.9 - PredictBudgetGain*b},
		{"over the SLO: up by gain x (1 - budget)", b, 0.9, over, all, 0.9 + PredictBudgetGain*(1-b)},
		{"replicas still starting: not judged", b, 0.9, over, starting, 0.9},
		{"no p95: not judged", b, 0.9, Observation{}, all, 0.9},
		{"never above the maximum", b, PredictQuantileMax, over, all, PredictQuantileMax},
		{"never below the minimum", b, PredictQuantileMin, ok, all, PredictQuantileMin},
		{"off", -1, 0, over, all, 0.98},
	}
	for _, c := range cases {
		set := PredictSettings{SLO: slo, Budget: c.budget}
		set.defaults()
		st := PredictState{Q: c.from}
		if got := st.adaptQuantile(set, c.obs, c.in); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: quantile %v, want %v", c.name, got, c.want)
		}
	}
}

// Over a long run the headroom follows the budget: a load whose noise the
// fixed 0.98 quantile over-covers gets less headroom (fewer replicas, within
// the budget), and one that breaks the SLO more often than the budget gets
// more (fewer ticks over the SLO than at the fixed quantile).
func TestPredictHeadroomFollowsTheBudget(t *testing.T) {
	run := func(budget, noise float64) (broken, replicas, q float64) {
		r := &predictRun{set: PredictSettings{SLO: 250 * time.Millisecond, Budget: budget, DownWindow: time.Minute}, now: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), replicas: 10}
		rng := rand.New(rand.NewPCG(3, 4))
		n, over, sum := 0, 0, 0
		for i := 0; i < 7*24*360; i++ {
			o := world(300*math.Exp(noise*rng.NormFloat64()), r.replicas, 0.02)
			p := Predict(r.set, &r.st, PredictInput{Input: Input{Now: r.now, Current: r.replicas, Ready: r.replicas}, Obs: o,
				Step: 10 * time.Second, Short: 20 * time.Second, Long: 2 * time.Minute})
			r.replicas = p.Replicas
			r.now = r.now.Add(10 * time.Second)
			if i >= 24*360 { // after a day
				n++
				sum += r.replicas
				if o.P95 > 0.25 {
					over++
				}
			}
		}
		return float64(over) / float64(n), float64(sum) / float64(n), r.st.Q
	}
	for _, c := range []struct {
		noise, budget float64
		looser        bool // the budget is looser than what the fixed quantile gives
	}{{0.15, 0.01, true}, {0.5, 0.0005, false}} {
		fixedBroken, fixedReplicas, _ := run(-1, c.noise)
		broken, replicas, q := run(c.budget, c.noise)
		t.Logf("noise %.2f: fixed 0.98 quantile %.3f%% of ticks over the SLO, %.2f replicas; budget %.2f%%: %.3f%%, %.2f replicas, quantile now %.3f",
			c.noise, fixedBroken*100, fixedReplicas, c.budget*100, broken*100, replicas, q)
		switch {
		case c.looser && (fixedBroken >= c.budget || broken > c.budget*1.5 || replicas >= fixedReplicas):
			t.Errorf("noise %.2f: a looser budget must give fewer replicas within it", c.noise)
		case !c.looser && (fixedBroken <= c.budget || broken >= fixedBroken):
			t.Errorf("noise %.2f: a tighter budget must break the SLO less often than the fixed quantile", c.noise)
		}
	}
}
