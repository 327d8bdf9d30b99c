package policy

import (
	"fmt"
	"math"
	"time"

	"github.com/hoist/hoist/internal/forecast"
)

// Predictive defaults (see Predict). Chosen on the NASA week, checked on
// Alibaba 2018 and NASA Jul-Aug (docs/bench/README.md).
const (
	// PredictHeadroom is the share of the SLO's utilisation aimed at.
	PredictHeadroom = 0.95
	// PredictFallbackCPU is the CPU target (percent) used while learning.
	PredictFallbackCPU = 60.0
	// PredictQuantile is the share of the demand's peaks sized for.
	PredictQuantile = 0.98
	// PredictMachineQuantile is the share of the peaks within the boot time
	// machines are ordered for. Measured with the 10 min down window: 0.8
	// gave 707 / 1,068 / 4,956 machine-h (NASA week, Alibaba, NASA Jul-Aug;
	// hpa-ca 746 / 1,215 / 4,941), 0.7 gives 705 / 1,067 / 4,909 at 187 /
	// 421 / 1,564 s over the SLO (hpa-ca 1,185 / 583 / 18,644).
	PredictMachineQuantile = 0.7
	// PredictDownWindow: scale-down to the highest need of this window.
	// Measured (docs/bench): on the NASA week 2 min gave 716 machine-h and
	// 334 s over the SLO, 5 min 700 and 350, 10 min 707 and 186; on Alibaba
	// 1,060 / 665 s, 1,053 / 606 s and 1,068 / 421 s. Replicas that follow
	// the noise down make machines follow it too (each rise orders one,
	// kept at least the pool's scale-in delay), and the spare replicas a
	// longer window keeps absorb the rises machines arrive too late for.
	PredictDownWindow = 10 * time.Minute
	// PredictKeepWindow: scale-in keeps room for the highest replicas asked
	// for over this window (never ordered for it), so that a node is not
	// removed in a lull and ordered again for the next rise. Chosen on the
	// NASA week (docs/bench): with PredictFirmQuantile, 45 min gave 72
	// machine actions and 726 machine-h, 60 min 72 and 734 (hpa-ca 97 and
	// 746; the 10 min of the down window alone, 140 and 703).
	PredictKeepWindow = 45 * time.Minute
	// PredictFirmQuantile: in reactive mode machines are ordered for the
	// peak over the next two ticks at this quantile of the naive forecast's
	// errors, replicas sized at PredictQuantile; the replicas between the
	// two wait for room rather than order a machine that would come after
	// the transient. On the NASA week, keeping 30 min: 0.8 gave 75 machine
	// actions at 194 s over the SLO, 0.9 80 at 124 s, machines for every
	// replica 102 at 79 s; keeping 60 min: 0.9 68 at 87 s, 0.95 72 at 80 s.
	PredictFirmQuantile = 0.95
	// PredictBudget is the SLO's default error budget: the share of ticks
	// (with every replica asked for running) whose observed p95 may break
	// the SLO. The quantile replicas are sized at adapts to it (see
	// PredictState.adaptQuantile), from PredictQuantile, within
	// [PredictQuantileMin, PredictQuantileMax], by PredictBudgetGain a tick.
	// Measured with the forecast trusted from MASE 0.85 (docs/bench; s over
	// the SLO / machine-h / machine actions, NASA week | Alibaba | NASA
	// Jul-Aug): 0.02 % 80 / 723 / 80 | 450 / 1,069 / 70 | 1,799 / 4,915 /
	// 698; 0.03 % 85 / 720 / 80 | 508 / 1,069 / 78 | 2,892 / 4,830 / 686;
	// 0.05 % 148 / 717 / 84 | 555 / 1,062 / 80 | 4,810 / 4,730 / 648
	// (hpa-ca 1,185 / 746 / 97 | 583 / 1,215 / 54 | 18,644 / 4,941 / 953).
	// 0.03 % is the one with the widest smallest margin to hpa-ca's floors.
	PredictBudget      = 0.0003
	PredictBudgetGain  = 0.003
	PredictQuantileMin = 0.5
	PredictQuantileMax = 0.995
)

// PredictSettings are one predictive policy's settings.
type PredictSettings struct {
	// SLO is the p95 latency objective.
	SLO time.Duration
	// FallbackCPU is the CPU target (percent of the limit) while learning.
	FallbackCPU float64
	// Headroom is the share (0..1] of the utilisation where the p95 reaches
	// the SLO that replicas are sized for.
	Headroom float64
	// DownWindow: scale-down takes the highest need of this window.
	DownWindow time.Duration
	// KeepWindow: scale-in keeps room for the highest replicas asked for
	// over this window (at least DownWindow).
	KeepWindow time.Duration
	// Quantile of the demand the replicas are sized for, and
	// MachineQuantile of the demand within the boot time machines are
	// while the forecast is trusted; FirmQuantile of the demand over the
	// next two ticks machines are while it is not.
	Quantile, MachineQuantile, FirmQuantile float64
	// Budget is the SLO's error budget (0: PredictBudget; negative: off,
	// replicas always at Quantile).
	Budget float64
	// ForecastOnly decides and records the forecast but acts as reactive.
	ForecastOnly bool
	// Seasons are the periods the load repeats with, SeasonBucket the
	// resolution of the forecast's memory of them (zero: the forecast's
	// defaults, a day and a week in 1m buckets).
	Seasons      []time.Duration
	SeasonBucket time.Duration
}

func (s *PredictSettings) defaults() {
	if s.FallbackCPU <= 0 {
		s.FallbackCPU = PredictFallbackCPU
	}
	if s.Headroom <= 0 || s.Headroom > 1 {
		s.Headroom = PredictHeadroom
	}
	if s.DownWindow <= 0 {
		s.DownWindow = PredictDownWindow
	}
	if s.KeepWindow <= 0 {
		s.KeepWindow = PredictKeepWindow
	}
	s.KeepWindow = max(s.KeepWindow, s.DownWindow)
	if s.Quantile <= 0 || s.Quantile >= 1 {
		s.Quantile = PredictQuantile
	}
	if s.MachineQuantile <= 0 || s.MachineQuantile >= 1 {
		s.MachineQuantile = PredictMachineQuantile
	}
	if s.FirmQuantile <= 0 || s.FirmQuantile >= 1 {
		s.FirmQuantile = PredictFirmQuantile
	}
	if s.Budget == 0 {
		s.Budget = PredictBudget
	}

}

// PredictState is what a predictive policy remembers between ticks: the
// learned capacity, the demand forecast, and recent needs (scale-down).
type PredictState struct {
	Model    CapacityModel
	forecast *forecast.Forecaster
	history  []point
	kept     []point // replicas asked for, for KeepWindow
	// Mode is "predictive" or "reactive" (the forecast is not trusted);
	// ModeWhy says why. Decisions follow it; it changes only once the
	// forecast's health has held on the other side of a band for a while
	// (see gate), and the engine reports each change as an event.
	Mode, ModeWhy string
	long, short   gate
	// Q is the quantile replicas are sized at, adapted to the SLO's error
	// budget (0 before the first tick); Broken and Judged count the ticks
	// that broke the SLO and all those that were judged.
	Q              float64
	Broken, Judged int
}

// adaptQuantile is the quantile replicas are sized at this tick. With an
// error budget it follows adaptive conformal inference (Gibbs and Candès,
// "Adaptive conformal inference under distribution shift", NeurIPS 2021):
// after a tick whose p95 broke the SLO the quantile rises by gain x
// (1 - budget), after one that kept it it falls by gain x budget, so the
// share of broken ticks comes to the budget whatever the load's noise. A
// load whose rises the headroom absorbs with room to spare gets less of it;
// one that breaks the SLO more often than the budget, more. Only ticks where
// every replica asked for ran are judged: a p95 over the SLO while replicas
// start or wait for a machine says nothing of the headroom.
func (st *PredictState) adaptQuantile(set PredictSettings, o Observation, in PredictInput) float64 {
	if set.Budget < 0 {
		return set.Quantile
	}
	if st.Q == 0 {
		st.Q = set.Quantile
	}
	if o.HasP95 && in.Ready >= in.Current {
		broke := 0.0
		if o.P95 > set.SLO.Seconds() {
			broke = 1
			st.Broken++
		}
		st.Judged++
		st.Q = min(PredictQuantileMax, max(PredictQuantileMin, st.Q+PredictBudgetGain*(broke-set.Budget)))
	}
	return st.Q
}

// Forecaster returns the state's forecaster, made on first use with step.
func (st *PredictState) Forecaster(step time.Duration, q float64) *forecast.Forecaster {
	return st.ForecasterWith(forecast.Options{Step: step, Quantile: q})
}

// ForecasterWith returns the state's forecaster, made on first use with o,
// and made again if o's seasons differ from its own (a reloaded descriptor
// that says the load repeats with another period: the old memory is of no
// use for the new one).
func (st *PredictState) ForecasterWith(o forecast.Options) *forecast.Forecaster {
	if st.forecast == nil || !st.forecast.SameSeasons(o) {
		st.forecast = forecast.New(o)
	}
	return st.forecast
}

// PredictInput is what a predictive policy sees at one tick.
type PredictInput struct {
	Input
	Obs Observation
	// Step is the tick interval (the forecast's sampling step).
	Step time.Duration
	// Short is how long a new replica takes to serve (container start and a
	// tick); Long how long a new machine takes (the pool's measured
	// order-to-ready time, plus Short).
	Short, Long time.Duration
	// Room is how many of the app's replicas the pool holds without ordering
	// a machine (placed, plus what fits on its nodes and machines on the
	// way); RoomKnown says whether the engine could tell.
	Room      int
	RoomKnown bool
}

// Prediction is a predictive policy's vote and what the machines need.
type Prediction struct {
	Recommendation
	// Ahead is how many replicas the forecast needs within Long: the
	// machines to hold them should be there (ordered now) and stay.
	Ahead int
	// Firm is how many replicas machines are ordered for now: the rate now
	// and the forecast's bound (see Predict); replicas beyond it and the
	// pool's room wait.
	Firm int
	// Keep is how many replicas scale-in keeps room for (never ordered):
	// the highest asked for over KeepWindow.
	Keep int
	// Rate is the app's request rate now; Forecast the peak forecast over
	// Long, its upper bound at Quantile (what the coverage is of).
	Rate     float64
	Forecast forecast.Forecast
	Horizon  time.Duration
	Quantile float64
	// SizedAt is the quantile replicas were sized at (adapted to the SLO's
	// error budget).
	SizedAt  float64
	Capacity Capacity
	// Mode is "predictive" or "reactive" this tick (ModeWhy why): the
	// state's Mode is the one held long enough to be reported.
	Mode, ModeWhy string
}

// Predict sizes replicas to the demand forecast at the learned capacity:
//
//	need now   = ceil(rate / per-replica capacity)
//	replicas   = max(need now, ceil(upper forecast over Short / capacity))
//	ahead      = max(replicas, ceil(upper forecast over Long / capacity))
//
// Scale-up is immediate; scale-down takes the highest replicas of the last
// DownWindow, and never follows missing data (NoData). The forecast is used
// only while healthy (enough errors seen, better than naive, coverage near
// its quantile); otherwise the policy reacts to the rate now (Mode
// "reactive"). Pure but for st, which it updates.
func Predict(set PredictSettings, st *PredictState, in PredictInput) Prediction {
	set.defaults()
	o := in.Obs
	o.Running = in.Ready
	if !o.HasRPS || !o.HasCPU || in.Ready == 0 {
		return Prediction{Recommendation: Recommendation{Replicas: in.Current, NoData: true, Reason: "no request rate or CPU from running replicas"}}
	}
	changed := st.Model.Observe(o)
	rate := o.RPS * float64(in.Ready)
	fc := st.ForecasterWith(forecast.Options{Step: in.Step, Quantile: set.Quantile, Seasons: set.Seasons, Bucket: set.SeasonBucket})
	fc.Observe(in.Now, rate)
	cp := st.Model.Capacity(set.SLO, set.Headroom, set.FallbackCPU/100)
	if cp.PerReplica <= 0 {
		return Prediction{Recommendation: Recommendation{Replicas: in.Current, NoData: true, Reason: cp.Why}, Rate: rate}
	}
	need := func(r float64) int { return max(1, int(math.Ceil(r/cp.PerReplica-1e-9))) }
	now := need(rate)
	q := st.adaptQuantile(set, o, in)
	short, long := fc.PeakAt(in.Short, q), fc.PeakAt(max(in.Long, in.Short), set.MachineQuantile)
	raw, ahead := now, now
	// Machines are ordered ahead only while the forecast has beaten naive
	// over the boot time for a while (Mode); replicas take the ensemble's
	// upper bound over the next two ticks only while it has beaten naive
	// there, else the naive forecast's own error quantile (the headroom
	// the noise calls for). Both switch with hysteresis: a forecast that
	// hovers around naive's error does not flip the decisions tick by tick.
	enter, leave := gateTicks(set.Seasons, in.Step)
	st.long.step(long, set.Quantile, enter, leave)
	st.short.step(short, set.Quantile, enter, leave)
	switch {
	case changed:
		// This tick only (its event says why): the forecast is of the
		// request rate, which a new cost per request leaves as it was, so
		// its trust (the gate) is kept. Reset, it took a gate's hold to
		// come back, and on a busy host, whose CPU per request jumps at a
		// load's ramps, the model resets often enough that machines were
		// not ordered ahead of a rise the forecast had right.
		st.Mode, st.ModeWhy = "reactive", "cost per request changed: learning again"
	case set.ForecastOnly:
		st.Mode, st.ModeWhy = "reactive", "forecast_only"
	case st.long.on:
		st.Mode, st.ModeWhy = "predictive", st.long.why
	default:
		st.Mode, st.ModeWhy = "reactive", "forecast "+st.long.why
	}
	mode, why := st.Mode, st.ModeWhy
	// Firm is what machines are ordered for: the rate now, and the peak
	// over the machines' horizon at MachineQuantile from the ensemble while
	// it is trusted, else the peak over the next two ticks at FirmQuantile
	// from the same bound as the replicas' (the ensemble's where it beats
	// naive there, else the naive forecast's own errors). Replicas are sized
	// higher (at Quantile), but a machine would come too late for that
	// headroom.
	firm := fc.PeakAt(in.Short, min(set.FirmQuantile, q))
	if st.short.on && !set.ForecastOnly {
		raw = max(now, need(short.Upper))
		ahead = max(now, need(firm.Upper))
	} else {
		raw = max(now, need(short.NaiveUpper))
		ahead = max(now, need(firm.NaiveUpper))
	}
	if mode == "predictive" {
		// Machines ordered now are ready in Long: they must then hold the
		// replicas wanted then, the forecast's rise over Long on top of
		// the firm need now (which has its own headroom: without it, the
		// machine for a steady rise came one replica's headroom late). On
		// top of the replicas' own headroom instead, Alibaba's machine
		// actions were 136, not 112 (NASA week 78, not 74).
		l := need(long.Upper)
		ahead = max(now, l, ahead+l-now)
	}

	reason := fmt.Sprintf("rate %.4g req/s; %s; need %d now", rate, cp.Why, now)
	if mode == "predictive" {
		reason += fmt.Sprintf(", %d for the upper forecast %.4g within %s, %d for %.4g within %s (MASE %.2f, coverage %.0f%%)",
			raw, short.Upper, in.Short, ahead, long.Upper, in.Long.Round(100*time.Millisecond), long.MASE, long.Coverage*100)
	} else {
		reason += fmt.Sprintf(" (reactive: %s)", why)
	}
	if set.Budget > 0 && raw > now {
		reason += fmt.Sprintf("; %d with headroom to the %.3g quantile (the SLO broken in %d of %d ticks judged, budget %.2g%%)",
			raw, q, st.Broken, st.Judged, set.Budget*100)
	}

	// Scale-down stabilisation: the highest need of the window; machines
	// keep room for the highest need of the (longer) keep window.
	st.history = remember(st.history, point{in.Now, raw}, set.DownWindow)
	desired := raw
	if raw < in.Current {
		for _, h := range st.history {
			if in.Now.Sub(h.t) <= set.DownWindow {
				desired = max(desired, h.n)
			}
		}
		desired = min(desired, in.Current)
		if desired != raw {
			reason += fmt.Sprintf("; held at %d: the highest need of the last %s", desired, set.DownWindow)
		}
	}
	// Headroom a new machine would come too late for: replicas beyond the
	// pool's room and beyond the firm need wait (no machine is ordered for
	// a transient the running replicas absorb).
	if desired > in.Current && in.RoomKnown && desired > max(in.Room, ahead) {
		capped := max(in.Current, in.Room, ahead)
		if capped < desired {
			// The firm need looks over the boot time only while predictive.
			over := in.Short
			if mode == "predictive" {
				over = in.Long
			}
			reason += fmt.Sprintf("; %d, not %d: the pool has room for %d and the firm need over %s is %d", capped, desired, in.Room, over.Round(100*time.Millisecond), ahead)
			desired = capped
		}
	}
	// Machines keep room for the highest replicas asked for over KeepWindow.
	st.kept = remember(st.kept, point{in.Now, desired}, set.KeepWindow)
	keep := desired
	for _, h := range st.kept {
		keep = max(keep, h.n)
	}
	return Prediction{Recommendation: Recommendation{Replicas: desired, Reason: reason},
		Ahead: max(ahead, desired), Firm: ahead, Keep: keep, Rate: rate, Forecast: fc.Peak(max(in.Long, in.Short)), Horizon: max(in.Long, in.Short),
		Quantile: set.Quantile, SizedAt: q, Capacity: cp, Mode: mode, ModeWhy: why}
}

// Clone returns a copy whose model and history are independent, but which
// shares the forecaster: the engine copies its memory on every decision, and
// copying a week of seasonal memory each time cost more than the decision
// itself. A dry run between two ticks therefore feeds the shared forecaster
// the rate it sees; the next tick's sample at the same step is then ignored
// (see forecast.Forecaster.Observe), so what it learns is unchanged but for
// which instant of the step it sampled.
func (st PredictState) Clone() PredictState {
	c := st
	c.history = append([]point(nil), st.history...)
	c.kept = append([]point(nil), st.kept...)
	return c
}

// Hysteresis of the forecast's health (gate): it is trusted once it has
// beaten naive by a margin (MASE at most maseEnter, coverage within
// coverageSlack of its quantile) for gateEnter ticks in a row, and
// distrusted once it has been unhealthy (worse than naive, coverage more
// than 10 points short, or still learning) for gateLeave ticks in a row.
// Between the two, the mode stays as it is.
//
// maseEnter was 0.95: forecasts that beat naive by 2-5 % (MASE 0.95-0.98 at
// the boot time's horizon on the NASA and Alibaba traces) were trusted, and
// on Alibaba 17 of the 25 machines they ordered ahead were for rises that did
// not come, scaled in within 11 min (114 machine actions against 80 without
// trusting the forecast, hpa-ca's 54). A repeated ramp is forecast at MASE
// 0.2-0.6, on the real stack as in the simulator.
const (
	maseEnter     = 0.85
	coverageSlack = 0.05
	gateEnter     = 90 // 15 min at the default 10 s tick
	gateLeave     = 30 // 5 min
)

// gateTicks are the gate's holds for a tick of step: gateEnter and
// gateLeave, but at most half the shortest season (at least 5 ticks), as
// the forecaster judges its errors: a load that repeats every minute would
// otherwise repeat several times before a change of trust.
func gateTicks(seasons []time.Duration, step time.Duration) (enter, leave int) {
	enter, leave = gateEnter, gateLeave
	if step <= 0 {
		return enter, leave
	}
	for _, s := range seasons {
		half := max(5, int(s/step/2))
		enter, leave = min(enter, half), min(leave, half)
	}
	return enter, leave
}

// gate is one horizon's trust in the forecast, with hysteresis.
type gate struct {
	on  bool
	run int    // ticks in a row the other side's condition held
	why string // why the gate is as it is (for the mode's event)
}

// step updates the gate with this tick's forecast.
func (g *gate) step(f forecast.Forecast, q float64, enter, leave int) {
	if g.why == "" && !g.on {
		g.why = f.Why
	}
	if g.on {
		if f.Healthy {
			g.run = 0
			return
		}
		g.run++
		if g.run >= leave {
			g.on, g.run = false, 0
			g.why = fmt.Sprintf("%s for %d ticks (MASE %.2f, coverage %.0f%%)", f.Why, leave, f.MASE, f.Coverage*100)
		}
		return
	}
	if f.Healthy && f.MASE <= maseEnter && f.Coverage >= q-coverageSlack {
		g.run++
		if g.run >= enter {
			g.on, g.run = true, 0
			g.why = fmt.Sprintf("beats naive for %d ticks (MASE %.2f, coverage %.0f%%)", enter, f.MASE, f.Coverage*100)
		}
		return
	}
	g.run = 0
	if f.Why != "" {
		g.why = f.Why
	}
}
