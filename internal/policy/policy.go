// Package policy turns an app's metrics into a recommended replica count. Every
// function here is pure: state that must survive between ticks is passed in and
// returned explicitly, time comes from the Input, and nothing does I/O.
package policy

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/hoist/hoist/internal/config"
)

// Change is one applied change of an app's replica count.
type Change struct {
	Time  time.Time
	Delta int // positive: scale-up
}

// Input is what a replica policy sees at one tick.
type Input struct {
	Now time.Time
	// Current is the replica count the service asks for now.
	Current int
	// Ready is how many replicas run (and so produce the metric).
	Ready int
	// Value is the policy's metric; valid only when HasValue.
	Value    float64
	HasValue bool
	// Changes are the app's recent replica changes, oldest first (for rate limits).
	Changes []Change
}

// Recommendation is a policy's vote.
type Recommendation struct {
	Replicas int
	// Reason explains the figure for a person.
	Reason string
	// NoData: the policy could not judge; it must not cause a scale-down.
	NoData bool
	// Abstain: the policy has no opinion now (an alert policy with no alert
	// firing): it is left out of the vote, so it neither asks for a change
	// nor holds the other policies' scale-down.
	Abstain bool
}

type point struct {
	t time.Time
	n int
}

// remember appends p to ps and drops, from the front, the points older than
// window at p's time, in place.
func remember(ps []point, p point, window time.Duration) []point {
	ps = append(ps, p)
	cut := 0
	for cut < len(ps) && p.t.Sub(ps[cut].t) > window {
		cut++
	}
	if cut == 0 {
		return ps
	}
	return append(ps[:0], ps[cut:]...)
}

// TargetState is what a target policy remembers between ticks: its raw
// recommendations over the longer stabilisation window.
type TargetState struct {
	history []point
}

// Target applies Kubernetes HPA's rule: desired = ceil(ready x value/target),
// unchanged while value/target is within the tolerance of 1; then stabilises
// (scale-up takes the lowest, scale-down the highest recommendation of its
// window) and limits the rate of change per period.
func Target(p *config.Policy, st *TargetState, in Input) Recommendation {
	if !in.HasValue || in.Ready == 0 {
		return Recommendation{Replicas: in.Current, NoData: true, Reason: "no data"}
	}
	ratio := in.Value / p.Target
	tol := config.DefaultTolerance
	if p.Tolerance != nil {
		tol = *p.Tolerance
	}
	raw := in.Current
	// The reason is appended into one buffer (on the stack while it fits) and
	// copied once into a string: Target runs for every app on every tick, and
	// fmt.Sprintf's interfaces and reflection were most of its cost. The text
	// is byte for byte what the format in each comment gives (reason_test.go).
	var buf [160]byte
	r := append(buf[:0], metricName(p)...)
	r = append(r, ' ')
	r = appendG3(r, in.Value)
	if math.Abs(ratio-1) <= tol {
		// "%s %.3g within %.0f%% of target %.3g"
		r = append(r, " within "...)
		r = appendF0(r, tol*100)
		r = append(r, "% of target "...)
		r = appendG3(r, p.Target)
	} else {
		raw = int(math.Ceil(float64(in.Ready)*ratio - 1e-9))
		// "%s %.3g vs target %.3g: ceil(%d x %.3g/%.3g) = %d"
		r = append(r, " vs target "...)
		r = appendG3(r, p.Target)
		r = append(r, ": ceil("...)
		r = strconv.AppendInt(r, int64(in.Ready), 10)
		r = append(r, " x "...)
		r = appendG3(r, in.Value)
		r = append(r, '/')
		r = appendG3(r, p.Target)
		r = append(r, ") = "...)
		r = strconv.AppendInt(r, int64(raw), 10)
	}

	upWin, downWin := stabilization(p.ScaleUp), stabilization(p.ScaleDown)
	longest := max(upWin, downWin)
	// Drop what no window can see any more; keep the slice from growing forever.
	st.history = remember(st.history, point{in.Now, raw}, longest)

	upRec, downRec := raw, raw
	for _, h := range st.history {
		age := in.Now.Sub(h.t)
		if age <= upWin {
			upRec = min(upRec, h.n)
		}
		if age <= downWin {
			downRec = max(downRec, h.n)
		}
	}
	desired := in.Current
	if desired < upRec {
		desired = upRec
	}
	if desired > downRec {
		desired = downRec
	}
	if desired != raw {
		// "; stabilised to %d"
		r = append(r, "; stabilised to "...)
		r = strconv.AppendInt(r, int64(desired), 10)
	}

	if limited, ok := rateLimit(p, in, desired); ok {
		// "; rate-limited to %d"
		r = append(r, "; rate-limited to "...)
		r = strconv.AppendInt(r, int64(limited), 10)
		desired = limited
	}
	return Recommendation{Replicas: desired, Reason: string(r)}
}

// appendG3 appends v as fmt's %.3g prints it. Without flags fmt's %g is
// strconv's 'g' at the same precision, sign, -0, +Inf, -Inf and NaN included
// (fmt drops only the "+" it adds itself before NaN); reason_test.go holds
// the two equal.
func appendG3(b []byte, v float64) []byte {
	return strconv.AppendFloat(b, v, 'g', 3, 64)
}

// appendF0 appends v as fmt's %.0f prints it (the same rule as appendG3's).
func appendF0(b []byte, v float64) []byte {
	return strconv.AppendFloat(b, v, 'f', 0, 64)
}

func stabilization(b *config.Behavior) time.Duration {
	if b == nil || b.Stabilization == nil {
		return 0
	}
	return b.Stabilization.D()
}

// rateLimit bounds desired by the behaviours' per-period limits, taking the
// replica count at the start of the period as the base (as HPA does).
func rateLimit(p *config.Policy, in Input, desired int) (int, bool) {
	switch {
	case desired > in.Current && p.ScaleUp != nil:
		b := p.ScaleUp
		added := 0
		for _, c := range in.Changes {
			if c.Delta > 0 && in.Now.Sub(c.Time) < b.Period.D() {
				added += c.Delta
			}
		}
		start := in.Current - added
		limit := start + b.MaxReplicas
		if b.MaxPercent > 0 {
			limit = max(limit, int(math.Ceil(float64(start)*(1+b.MaxPercent/100)-1e-9)))
		}
		if desired > limit {
			return max(limit, in.Current), true
		}
	case desired < in.Current && p.ScaleDown != nil:
		b := p.ScaleDown
		removed := 0
		for _, c := range in.Changes {
			if c.Delta < 0 && in.Now.Sub(c.Time) < b.Period.D() {
				removed -= c.Delta
			}
		}
		start := in.Current + removed
		limit := start - b.MaxReplicas
		if b.MaxPercent > 0 {
			limit = min(limit, int(math.Floor(float64(start)*(1-b.MaxPercent/100)+1e-9)))
		}
		if desired < limit {
			return min(limit, in.Current), true
		}
	}
	return desired, false
}

// ThresholdState remembers since when the metric has been above or below.
type ThresholdState struct {
	AboveSince time.Time
	BelowSince time.Time
}

// Threshold applies MiCADO's and Elascale's rule: above Upper for For, add
// StepUp; below Lower for DownFor, remove StepDown. While the condition holds
// it keeps recommending the step on every tick, as a firing alert repeats; the
// app's cooldown sets how often that turns into a change.
func Threshold(p *config.Policy, st *ThresholdState, in Input) Recommendation {
	if !in.HasValue {
		*st = ThresholdState{}
		return Recommendation{Replicas: in.Current, NoData: true, Reason: "no data"}
	}
	lower := math.Inf(-1)
	if p.Lower != nil {
		lower = *p.Lower
	}
	name := metricName(p)
	switch {
	case in.Value > p.Upper:
		st.BelowSince = time.Time{}
		if st.AboveSince.IsZero() {
			st.AboveSince = in.Now
		}
		held := in.Now.Sub(st.AboveSince)
		if held >= p.For.D() {
			return Recommendation{Replicas: in.Current + p.StepUp,
				Reason: fmt.Sprintf("%s %.3g above %.3g for %s: +%d", name, in.Value, p.Upper, held.Round(time.Second), p.StepUp)}
		}
		return Recommendation{Replicas: in.Current,
			Reason: fmt.Sprintf("%s %.3g above %.3g for %s of %s", name, in.Value, p.Upper, held.Round(time.Second), p.For)}
	case in.Value < lower:
		st.AboveSince = time.Time{}
		if st.BelowSince.IsZero() {
			st.BelowSince = in.Now
		}
		held := in.Now.Sub(st.BelowSince)
		if held >= p.DownFor.D() {
			return Recommendation{Replicas: in.Current - p.StepDown,
				Reason: fmt.Sprintf("%s %.3g below %.3g for %s: -%d", name, in.Value, lower, held.Round(time.Second), p.StepDown)}
		}
		return Recommendation{Replicas: in.Current,
			Reason: fmt.Sprintf("%s %.3g below %.3g for %s of %s", name, in.Value, lower, held.Round(time.Second), p.DownFor)}
	default:
		*st = ThresholdState{}
		return Recommendation{Replicas: in.Current,
			Reason: fmt.Sprintf("%s %.3g between %.3g and %.3g", name, in.Value, lower, p.Upper)}
	}
}

// Bounds are an app's replica limits at one instant.
type Bounds struct {
	Min, Max int
	// Reason names the schedule window that set them ("" for the app's own).
	Reason string
}

// Schedule returns the bounds the schedule policy sets at now, and whether a
// window is active. Several active windows: the highest min and highest max win.
func Schedule(p *config.Policy, now time.Time) (Bounds, bool) {
	// The zone is loaded with the descriptor (config.Policy.Location, set by
	// SetDefaults); only a policy that skipped SetDefaults loads it here.
	loc := p.Location
	if loc == nil {
		var err error
		if loc, err = time.LoadLocation(p.Timezone); err != nil {
			loc = time.UTC
		}
	}
	t := now.In(loc)
	minute := t.Hour()*60 + t.Minute()
	var b Bounds
	active := false
	for i, w := range p.Windows {
		if !windowActive(w, t.Weekday(), minute) {
			continue
		}
		if w.Min != nil && (!active || *w.Min > b.Min) {
			b.Min = *w.Min
		}
		if w.Max != nil && (!active || *w.Max > b.Max) {
			b.Max = *w.Max
		}
		if !active {
			b.Reason = fmt.Sprintf("schedule window %d (%s-%s)", i, w.Start, w.End)
		}
		active = true
	}
	return b, active
}

func windowActive(w config.Window, day time.Weekday, minute int) bool {
	start, ok1 := config.ClockMinutes(w.Start)
	end, ok2 := config.ClockMinutes(w.End)
	if !ok1 || !ok2 {
		return false
	}
	onDay := func(d time.Weekday) bool {
		if len(w.Days) == 0 {
			return true
		}
		for _, s := range w.Days {
			if wd, ok := config.Weekday(s); ok && wd == d {
				return true
			}
		}
		return false
	}
	if start < end {
		return onDay(day) && minute >= start && minute < end
	}
	if start == end { // the whole day
		return onDay(day)
	}
	// Crosses midnight: the evening part belongs to day, the morning part to the day before.
	return (onDay(day) && minute >= start) || (onDay((day+6)%7) && minute < end)
}

func metricName(p *config.Policy) string {
	if p.Query != "" {
		return "query"
	}
	return p.Metric
}

// Clone returns an independent copy (for dry runs).
func (s TargetState) Clone() TargetState {
	return TargetState{history: append([]point(nil), s.history...)}
}
