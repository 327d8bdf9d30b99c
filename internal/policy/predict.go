package policy

import (
	"fmt"
	"math"
	"time"

	"github.com/hoist/hoist/internal/forecast"
)

// Predictive defaults (see Predict). Chosen on the NASA week, checked on
// Alibaba 2018 (docs/bench/README.md).
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
	// Quantile of the demand the replicas are sized for, and
	// MachineQuantile of the demand within the boot time machines are.
	Quantile, MachineQuantile float64
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
	if s.Quantile <= 0 || s.Quantile >= 1 {
		s.Quantile = PredictQuantile
	}
	if s.MachineQuantile <= 0 || s.MachineQuantile >= 1 {
		s.MachineQuantile = PredictMachineQuantile
	}

}

// PredictState is what a predictive policy remembers between ticks: the
// learned capacity, the demand forecast, and recent needs (scale-down).
type PredictState struct {
	Model    CapacityModel
	forecast *forecast.Forecaster
	history  []point
	// Mode is "predictive" or "reactive" (the forecast is not trusted now);
	// ModeWhy says why. The engine reports a change of mode as an event.
	Mode, ModeWhy string
	// next is a mode seen but not yet held for modeHold ticks.
	next     string
	nextWhy  string
	nextHeld int
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
}

// Prediction is a predictive policy's vote and what the machines need.
type Prediction struct {
	Recommendation
	// Ahead is how many replicas the forecast needs within Long: the
	// machines to hold them should be there (ordered now) and stay.
	Ahead int
	// Rate is the app's request rate now; Forecast the peak forecast over
	// Long, its upper bound at Quantile (what the coverage is of).
	Rate     float64
	Forecast forecast.Forecast
	Horizon  time.Duration
	Quantile float64
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
	short, long := fc.Peak(in.Short), fc.PeakAt(max(in.Long, in.Short), set.MachineQuantile)
	raw, ahead := now, now
	mode, why := "predictive", ""
	// Replicas: the rate now plus the headroom for the next two ticks, from
	// the ensemble's upper bound where it beats naive at that horizon, else
	// from the naive forecast's own error quantile (reactive, measured
	// headroom). Machines: ordered ahead only for a forecast that beats
	// naive over the boot time; otherwise they follow the replicas.
	switch {
	case set.ForecastOnly:
		mode, why = "reactive", "forecast_only"
	case !long.Healthy:
		mode, why = "reactive", "forecast "+long.Why
	default:
		ahead = need(long.Upper)
	}
	if short.Healthy && !set.ForecastOnly {
		raw = max(now, need(short.Upper))
	} else {
		raw = max(now, need(short.NaiveUpper))
	}
	if mode == "predictive" {
		// Machines ordered now are ready in Long: they must then hold the
		// replicas wanted then, the forecast's rise over Long on top of
		// what is wanted now (which has its own headroom: without it, the
		// machine for a steady rise came one replica's headroom late).
		ahead = max(ahead, raw+ahead-now)
	}
	ahead = max(ahead, raw)
	if changed {
		why = "cost per request changed: learning again"
	}
	st.report(mode, why, changed)

	reason := fmt.Sprintf("rate %.4g req/s; %s; need %d now", rate, cp.Why, now)
	if mode == "predictive" {
		reason += fmt.Sprintf(", %d for the upper forecast %.4g within %s, %d for %.4g within %s (MASE %.2f, coverage %.0f%%)",
			raw, short.Upper, in.Short, ahead, long.Upper, in.Long, long.MASE, long.Coverage*100)
	} else {
		reason += fmt.Sprintf(" (reactive: %s)", why)
	}

	// Scale-down stabilisation: the highest need of the window.
	st.history = append(st.history, point{in.Now, raw})
	cut := 0
	for cut < len(st.history) && in.Now.Sub(st.history[cut].t) > set.DownWindow {
		cut++
	}
	st.history = append(st.history[:0], st.history[cut:]...)
	desired := raw
	if desired < in.Current {
		for _, h := range st.history {
			desired = max(desired, h.n)
		}
		desired = min(desired, in.Current)
		if desired != raw {
			reason += fmt.Sprintf("; held at %d: the highest need of the last %s", desired, set.DownWindow)
		}
	}
	return Prediction{Recommendation: Recommendation{Replicas: desired, Reason: reason},
		Ahead: max(ahead, desired), Rate: rate, Forecast: fc.Peak(max(in.Long, in.Short)), Horizon: max(in.Long, in.Short),
		Quantile: set.Quantile, Capacity: cp, Mode: mode, ModeWhy: why}
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
	return c
}

// modeHold is how many ticks in a row a new mode must hold before it is
// reported: on a noisy load the forecast's health flips from tick to tick,
// and each flip would be an event. Decisions do not wait for it.
const modeHold = 30

// report sets Mode once a new mode has held for modeHold ticks (at once for
// the first mode and for a change of cost per request).
func (st *PredictState) report(mode, why string, now bool) {
	switch {
	case st.Mode == "" || now:
		st.Mode, st.ModeWhy, st.next, st.nextHeld = mode, why, "", 0
	case mode == st.Mode:
		st.next, st.nextHeld = "", 0
	case mode == st.next:
		st.nextHeld++
		st.nextWhy = why
		if st.nextHeld >= modeHold {
			st.Mode, st.ModeWhy, st.next, st.nextHeld = mode, st.nextWhy, "", 0
		}
	default:
		st.next, st.nextWhy, st.nextHeld = mode, why, 1
	}
}
