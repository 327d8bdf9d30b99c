package sim

import (
	"math"
	"sync"
)

// The load model: each running replica is an M/M/1/K queue. Requests arrive at
// λ/n per replica (the balancer spreads them evenly), a replica with c cores
// serves μ = c / cpu_per_request requests/s, and holds at most K requests:
// beyond that it drops. This gives, in closed form, what autoscaling is about:
// latency that climbs as utilisation nears 1, and drops past it.

// QueueResult is the steady state of one replica.
type QueueResult struct {
	Rho     float64 // offered utilisation λ_i/μ (may exceed 1)
	Drop    float64 // share of arrivals dropped (queue full)
	Busy    float64 // share of time the replica works (CPU use / limit)
	P95     float64 // 95th percentile response time of served requests, seconds
	OverSLO float64 // share of served requests slower than the SLO
}

// Queue evaluates one replica with arrival rate lambda (req/s), service rate mu
// (req/s), capacity k and latency objective slo (seconds).
func Queue(lambda, mu float64, k int, slo float64) QueueResult {
	if mu <= 0 || k < 1 {
		return QueueResult{Drop: 1, P95: math.Inf(1), OverSLO: 1}
	}
	return queueInto(make([]float64, k+1), lambda, mu, k, slo)
}

// queueInto is Queue with π computed into pi (len k+1, k >= 1).
func queueInto(pi []float64, lambda, mu float64, k int, slo float64) QueueResult {
	if mu <= 0 || k < 1 {
		return QueueResult{Drop: 1, P95: math.Inf(1), OverSLO: 1}
	}
	rho := lambda / mu
	stationaryInto(pi, rho, k)
	drop := pi[k]
	res := QueueResult{Rho: rho, Drop: drop, Busy: 1 - pi[0]}
	res.P95 = p95Table(k).at(rho) / mu
	res.OverSLO = tail(pi, k, mu*slo)
	return res
}

// stationary returns π_0..π_K of M/M/1/K, computed so that large ρ does not overflow.
func stationary(rho float64, k int) []float64 {
	pi := make([]float64, k+1)
	stationaryInto(pi, rho, k)
	return pi
}

func stationaryInto(pi []float64, rho float64, k int) {
	if rho == 0 {
		for i := range pi {
			pi[i] = 0
		}
		pi[0] = 1
		return
	}
	// π_j ∝ ρ^j; normalise relative to the largest term.
	var sum float64
	if rho <= 1 {
		w := 1.0
		for j := 0; j <= k; j++ {
			pi[j] = w
			sum += w
			w *= rho
		}
	} else {
		w := 1.0
		for j := k; j >= 0; j-- {
			pi[j] = w
			sum += w
			w /= rho
		}
	}
	for j := range pi {
		pi[j] /= sum
	}
}

// tail is P(T > x/μ) for a served request: an arrival that finds j requests
// waits for j+1 services, an Erlang(j+1, μ); x is in units of 1/μ.
func tail(pi []float64, k int, x float64) float64 {
	accepted := 1 - pi[k]
	if accepted <= 0 {
		return 1
	}
	// Q(j+1, x) = P(Erlang(j+1) > x) = Σ_{i<=j} e^-x x^i / i!
	term := math.Exp(-x)
	q := 0.0
	p := 0.0
	for j := 0; j < k; j++ {
		q += term
		p += pi[j] * min(q, 1) // math.Min's rules, without its call
		term *= x / float64(j+1)
		if term < 1e-300 && q >= 1-1e-15 {
			// The rest of the terms are all 1 (q saturated): add the tail mass.
			for jj := j + 1; jj < k; jj++ {
				p += pi[jj]
			}
			break
		}
	}
	return min(1, p/accepted)
}

// p95 lookups: the 95th percentile in units of 1/μ depends only on ρ and K,
// so it is tabulated once per K.
type table struct {
	step float64
	v    []float64
}

const (
	tableMaxRho = 4.0
	tableStep   = 0.002
)

var (
	tablesMu sync.Mutex
	tables   = map[int]*table{}
)

func p95Table(k int) *table {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	if t, ok := tables[k]; ok {
		return t
	}
	n := int(tableMaxRho/tableStep) + 1
	t := &table{step: tableStep, v: make([]float64, n)}
	pi := make([]float64, k+1)
	for i := range t.v {
		stationaryInto(pi, float64(i)*tableStep, k)
		t.v[i] = quantile(pi, k, 0.95)
	}
	tables[k] = t
	return t
}

func (t *table) at(rho float64) float64 {
	x := rho / t.step
	i := int(x)
	if i >= len(t.v)-1 {
		return t.v[len(t.v)-1]
	}
	f := x - float64(i)
	return t.v[i]*(1-f) + t.v[i+1]*f
}

// quantile finds x with P(T > x) = 1-q by bisection.
func quantile(pi []float64, k int, q float64) float64 {
	lo, hi := 0.0, float64(k)*4+50
	for i := 0; i < 60; i++ {
		mid := (lo + hi) / 2
		if tail(pi, k, mid) > 1-q {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// MinReplicas is the fewest replicas that serve lambda within the SLO: p95
// latency at most slo and at most maxDrop of requests dropped. It is the
// demand the benchmark compares supply with.
func MinReplicas(lambda, mu float64, k int, slo, maxDrop float64) int {
	if lambda <= 0 {
		return 1
	}
	n := max(1, int(math.Ceil(lambda/mu)))
	var pi []float64
	if mu > 0 && k >= 1 {
		pi = make([]float64, k+1) // one scratch π for the whole search
	}
	for ; n < 1_000_000; n++ {
		var r QueueResult
		if pi != nil {
			r = queueInto(pi, lambda/float64(n), mu, k, slo)
		} else {
			r = Queue(lambda/float64(n), mu, k, slo)
		}
		if r.P95 <= slo && r.Drop <= maxDrop {
			return n
		}
	}
	return n
}

// queueModel is queueInto for one replica shape (μ, K, SLO) evaluated every
// simulated second: what depends only on the shape (the Erlang tail weights
// of tail, the p95 table) is computed once, and π is never stored
// normalised. It gives exactly queueInto's results: the same operations on
// the same values, in the same order (see evalQueue's test).
type queueModel struct {
	mu, slo float64
	k       int
	// tailW[j] is min(Q(j+1, μ·slo), 1) as tail computes it, and 1 past the
	// point where tail adds the remaining π unweighted (π·1 is π exactly).
	tailW []float64
	// sat is the first j whose tailW is 1 (len(tailW) if none): tailW never
	// falls (tail's q only adds terms >= 0), so it is 1 from there on. An
	// infinite μ·slo makes q NaN from the start, with no 1 before it.
	sat int
	p95 *table
	w   []float64 // scratch: π unnormalised
}

func newQueueModel(mu float64, k int, slo float64) *queueModel {
	m := &queueModel{mu: mu, slo: slo, k: k}
	if mu <= 0 || k < 1 {
		return m
	}
	m.w = make([]float64, k+1)
	m.tailW = make([]float64, k)
	x := mu * slo
	// tail's loop, recording the weight of each π_j instead of summing.
	term := math.Exp(-x)
	q := 0.0
	for j := 0; j < k; j++ {
		q += term
		m.tailW[j] = min(q, 1)
		term *= x / float64(j+1)
		if term < 1e-300 && q >= 1-1e-15 {
			for jj := j + 1; jj < k; jj++ {
				m.tailW[jj] = 1
			}
			break
		}
	}
	m.sat = len(m.tailW)
	for j, tw := range m.tailW {
		if tw == 1 {
			m.sat = j
			break
		}
	}
	m.p95 = p95Table(k)
	return m
}

// eval is queueInto(make([]float64, k+1), lambda, μ, K, slo).
func (m *queueModel) eval(lambda float64) QueueResult {
	mu, k := m.mu, m.k
	if mu <= 0 || k < 1 {
		return QueueResult{Drop: 1, P95: math.Inf(1), OverSLO: 1}
	}
	rho := lambda / mu
	// stationaryInto, without the normalising pass.
	w := m.w
	var sum float64
	if rho == 0 {
		clear(w)
		w[0], sum = 1, 1
	} else if rho <= 1 {
		v := 1.0
		for j := 0; j <= k; j++ {
			w[j] = v
			sum += v
			v *= rho
		}
	} else {
		v := 1.0
		for j := k; j >= 0; j-- {
			w[j] = v
			sum += v
			v /= rho
		}
	}
	pi0, piK := w[0]/sum, w[k]/sum
	res := QueueResult{Rho: rho, Drop: piK, Busy: 1 - pi0}
	res.P95 = m.p95.at(rho) / mu
	// tail, with π_j = w_j/sum as stationaryInto leaves it.
	accepted := 1 - piK
	if accepted <= 0 {
		res.OverSLO = 1
		return res
	}
	p := 0.0
	if !(rho <= 1) {
		for j, tw := range m.tailW {
			p += w[j] / sum * tw
		}
		res.OverSLO = min(1, p/accepted)
		return res
	}
	for j, tw := range m.tailW[:m.sat] {
		p += w[j] / sum * tw
	}
	// From sat on, each term is w_j/sum (times a weight of 1, exact), and
	// with 0 <= ρ <= 1 (a negative ρ fails at the p95 table above) the w_j
	// never grow (w_j+1 is w_j·ρ rounded), so neither do the terms: once
	// one leaves p as it is, so does every later one (a rounded sum is
	// monotone in each addend), and the rest are skipped.
	for _, wj := range w[m.sat:k] {
		next := p + wj/sum
		if next == p {
			break
		}
		p = next
	}
	res.OverSLO = min(1, p/accepted)
	return res
}
