package policy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/config"
)

// floatEdges are the values where fmt's and strconv's float formatting could
// part: signs, zeros, infinities, NaN, the limits of float64, and the
// rounding boundaries of three significant digits and of the %e switch.
var floatEdges = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.5, -0.5, 1.5, 2.5, -2.5, 0.05, 0.15,
	math.Inf(1), math.Inf(-1), math.NaN(), -math.NaN(),
	math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64,
	1e-4, 9.995e-5, 1e-5, 0.0001234, 999, 999.4, 999.5, 999.6, 1000, 1001, 99.95, 99.949999,
	123.45, 123.55, 1e21, 1e20, 1.005, 9.995, 59.99, 60, 60.01, 66.1, 6.0001e10, -7.777e-300,
	10, 100, 1e100, 0.1 * 100, 0.07 * 100, 0.29 * 100, 12.5, 13.5, 0.4999999, 0.5000001,
}

// randFloat draws from every scale and sign, including raw bit patterns
// (subnormals, NaN payloads).
func randFloat(r *rand.Rand) float64 {
	switch r.IntN(6) {
	case 0:
		return floatEdges[r.IntN(len(floatEdges))]
	case 1:
		return math.Float64frombits(r.Uint64())
	case 2:
		return r.Float64() * 200
	case 3:
		return float64(r.IntN(2000)) / 10 // ties of the rounding
	case 4:
		return (r.Float64()*2 - 1) * math.Pow(10, float64(r.IntN(40)-20))
	default:
		return float64(r.IntN(200)) + 0.5
	}
}

func TestReasonFormattingMatchesFmt(t *testing.T) {
	check := func(v float64) {
		t.Helper()
		if got, want := string(appendG3(nil, v)), fmt.Sprintf("%.3g", v); got != want {
			t.Errorf("appendG3(%v (bits %#x)) = %q, fmt %%.3g gives %q", v, math.Float64bits(v), got, want)
		}
		if got, want := string(appendF0([]byte("x"), v)), "x"+fmt.Sprintf("%.0f", v); got != want {
			t.Errorf("appendF0(%v (bits %#x)) = %q, fmt %%.0f gives %q", v, math.Float64bits(v), got, want)
		}
	}
	for _, v := range floatEdges {
		check(v)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		check(randFloat(r))
	}
}

// targetRef is Target as it was before its reason was built without fmt
// (6b2ed85 .. 3113033), with its own remember: the reference the live code
// is held to, byte for byte.
func targetRef(p *config.Policy, st *TargetState, in Input) Recommendation {
	if !in.HasValue || in.Ready == 0 {
		return Recommendation{Replicas: in.Current, NoData: true, Reason: "no data"}
	}
	ratio := in.Value / p.Target
	tol := config.DefaultTolerance
	if p.Tolerance != nil {
		tol = *p.Tolerance
	}
	raw := in.Current
	var reason string
	if math.Abs(ratio-1) <= tol {
		reason = fmt.Sprintf("%s %.3g within %.0f%% of target %.3g", metricName(p), in.Value, tol*100, p.Target)
	} else {
		raw = int(math.Ceil(float64(in.Ready)*ratio - 1e-9))
		reason = fmt.Sprintf("%s %.3g vs target %.3g: ceil(%d x %.3g/%.3g) = %d", metricName(p), in.Value, p.Target, in.Ready, in.Value, p.Target, raw)
	}

	upWin, downWin := stabilization(p.ScaleUp), stabilization(p.ScaleDown)
	longest := max(upWin, downWin)
	st.history = rememberRef(st.history, point{in.Now, raw}, longest)

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
		reason += fmt.Sprintf("; stabilised to %d", desired)
	}

	if limited, ok := rateLimit(p, in, desired); ok {
		reason += fmt.Sprintf("; rate-limited to %d", limited)
		desired = limited
	}
	return Recommendation{Replicas: desired, Reason: reason}
}

func rememberRef(ps []point, p point, window time.Duration) []point {
	ps = append(ps, p)
	cut := 0
	for cut < len(ps) && p.t.Sub(ps[cut].t) > window {
		cut++
	}
	return append(ps[:0], ps[cut:]...)
}

func randBehavior(r *rand.Rand) *config.Behavior {
	if r.IntN(4) == 0 {
		return nil
	}
	b := &config.Behavior{
		MaxPercent:  []float64{0, 10, 50, 100, 200}[r.IntN(5)],
		MaxReplicas: r.IntN(6),
		Period:      config.Duration(time.Duration(r.IntN(4)) * 15 * time.Second),
	}
	if r.IntN(3) > 0 {
		b.Stabilization = dur(time.Duration(r.IntN(12)) * 30 * time.Second)
	}
	return b
}

// Target gives, for any policy and any run of inputs, the Recommendation
// (reason byte for byte) and keeps the history that targetRef does.
func TestTargetMatchesFmtReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for run := range 400 {
		p := &config.Policy{Type: config.PolicyTarget, Metric: "cpu", Target: 60,
			ScaleUp: randBehavior(r), ScaleDown: randBehavior(r)}
		switch r.IntN(4) {
		case 0:
			p.Query = `sum(rate(http_requests_total{app="web"}[1m]))`
		case 1:
			p.Target = randFloat(r)
		case 2:
			p.Metric = "memory"
			p.Target = float64(1 + r.IntN(100))
		}
		switch r.IntN(4) {
		case 0:
			p.Tolerance = f(randFloat(r))
		case 1:
			p.Tolerance = f(float64(r.IntN(30)) / 100)
		}
		var st, ref TargetState
		now := t0
		cur := 1 + r.IntN(20)
		var changes []Change
		for tick := range 120 {
			switch r.IntN(20) {
			case 0: // the clock stands or goes back
				now = now.Add(-time.Duration(r.IntN(3)) * 10 * time.Second)
			case 1:
				now = now.Add(time.Duration(r.IntN(20)) * time.Minute)
			default:
				now = now.Add(10 * time.Second)
			}
			in := Input{Now: now, Current: cur, Ready: max(0, cur-r.IntN(3)), HasValue: r.IntN(15) > 0, Changes: changes}
			switch r.IntN(3) {
			case 0:
				in.Value = randFloat(r)
			default:
				in.Value = p.Target * (0.2 + 1.6*r.Float64())
			}
			got := Target(p, &st, in)
			want := targetRef(p, &ref, in)
			if got != want {
				t.Fatalf("run %d tick %d: policy %+v input %+v:\ngot  %+v\nwant %+v", run, tick, p, in, got, want)
			}
			if !slices.Equal(st.history, ref.history) {
				t.Fatalf("run %d tick %d: history %v, want %v", run, tick, st.history, ref.history)
			}
			if !got.NoData && got.Replicas != cur && got.Replicas > 0 && got.Replicas < 1000 {
				changes = append(changes, Change{Time: now, Delta: got.Replicas - cur})
				cur = got.Replicas
			}
		}
	}
}

// BenchmarkTarget runs the live Target and its fmt reference on the same
// inputs (the bench descriptor's policy, a tick of 10s).
func BenchmarkTarget(b *testing.B) {
	for _, bc := range []struct {
		name string
		fn   func(*config.Policy, *TargetState, Input) Recommendation
	}{{"live", Target}, {"fmt-reference", targetRef}} {
		b.Run(bc.name, func(b *testing.B) {
			p := hpa(60)
			var st TargetState
			b.ReportAllocs()
			now := t0
			for n := range b.N {
				now = now.Add(10 * time.Second)
				bc.fn(p, &st, Input{Now: now, Current: 10, Ready: 10, Value: 40 + float64(n%50), HasValue: true})
			}
		})
	}
}
