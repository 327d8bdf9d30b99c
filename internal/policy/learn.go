package policy

import (
	"fmt"
	"math"
	"time"
)

// Observation is one tick's view of an app's running replicas, as hoist
// measures it (agents, balancer, Prometheus): never the simulator's or the
// app's own parameters.
type Observation struct {
	// RPS is the request rate per running replica; CPU the utilisation in
	// percent of the limit; P95 the 95th percentile latency in seconds.
	RPS, CPU, P95          float64
	HasRPS, HasCPU, HasP95 bool
	// Running is how many replicas ran (and so produced the figures).
	Running int
}

// CapacityModel learns, online, how many requests per second one replica
// serves within the latency SLO. Two figures are learned from observations:
//
//   - the cost of a request: CPU utilisation (0..1) per request/s per replica;
//   - the latency scale a = p95 x (1 - utilisation): for a single-server
//     queue the p95 grows as a / (1 - u), a being a few service times.
//
// The utilisation at which the p95 reaches the SLO is then 1 - a/SLO, and
// one replica serves that utilisation divided by the cost. While it has seen
// too little (or since the cost per request changed, e.g. a new image), it
// answers with the fallback CPU target instead, the reactive rule's figure.
type CapacityModel struct {
	cost, costN float64
	// latency scale: exponentially weighted mean and variance
	lat, latVar, latN float64
	off               int // consecutive observations far from the cost model
	// Resets counts the detected changes of cost per request.
	Resets int
}

// Model thresholds: observations needed before the learned figure is used,
// how far (relative) a cost may be off the model before it counts as a
// change, and how many in a row make one.
const (
	learnMin        = 30
	costChange      = 0.25
	costChangeRun   = 3
	learnWeightMin  = 0.02
	latUtilLow      = 0.1
	latUtilHigh     = 0.95
	safeUtilCeiling = 0.9
	safeUtilFloor   = 0.2
)

// Observe adds one tick's observation. It reports whether the cost per
// request was found to have changed (the model then starts learning again).
func (m *CapacityModel) Observe(o Observation) bool {
	if !o.HasRPS || !o.HasCPU || o.RPS <= 0 || o.CPU <= 0 || o.Running == 0 {
		return false
	}
	u := o.CPU / 100
	c := u / o.RPS
	changed := false
	if m.costN >= learnMin && math.Abs(c/m.cost-1) > costChange {
		m.off++
		if m.off >= costChangeRun {
			// A new cost per request: what was learned no longer holds,
			// latency scale included (it is a few service times).
			*m = CapacityModel{Resets: m.Resets + 1}
			changed = true
		} else {
			return false
		}
	} else {
		m.off = 0
	}
	m.costN++
	m.cost += max(1/m.costN, learnWeightMin) * (c - m.cost)
	if o.HasP95 && o.P95 > 0 && !math.IsInf(o.P95, 0) && u >= latUtilLow && u <= latUtilHigh {
		a := o.P95 * (1 - u)
		m.latN++
		w := max(1/m.latN, learnWeightMin)
		d := a - m.lat
		m.lat += w * d
		m.latVar = (1 - w) * (m.latVar + w*d*d)
	}
	return changed
}

// Capacity is what the model says one replica serves.
type Capacity struct {
	// PerReplica is requests/s per replica at Util (0 when nothing is known).
	PerReplica float64
	// Util is the utilisation aimed at (0..1).
	Util float64
	// Learned: Util comes from the latency model, not the fallback.
	Learned bool
	Why     string
}

// Capacity answers for a latency objective slo, aiming at headroom (0..1]
// of the utilisation where the p95 reaches it; fallback is the utilisation
// (0..1) used until enough has been learned.
func (m *CapacityModel) Capacity(slo time.Duration, headroom, fallback float64) Capacity {
	if m.costN == 0 || m.cost <= 0 {
		return Capacity{Why: "no request rate and CPU observed yet"}
	}
	if slo <= 0 || m.costN < learnMin || m.latN < learnMin {
		return Capacity{PerReplica: fallback / m.cost, Util: fallback,
			Why: fmt.Sprintf("learning (%.0f of %d observations): CPU target %.0f%%", min(m.costN, m.latN), learnMin, fallback*100)}
	}
	// Conservative: the latency scale's mean plus two deviations.
	a := m.lat + 2*math.Sqrt(m.latVar)
	safe := 1 - a/slo.Seconds()
	u := min(max(safe, safeUtilFloor), safeUtilCeiling) * headroom
	return Capacity{PerReplica: u / m.cost, Util: u, Learned: true,
		Why: fmt.Sprintf("learned: %.3g req/s per replica at %.0f%% CPU (p95 reaches the SLO near %.0f%%)", u/m.cost, u*100, safe*100)}
}
