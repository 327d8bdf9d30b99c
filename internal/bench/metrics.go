package bench

import (
	"errors"
	"math"
	"time"
)

// Elasticity holds the SPEC Research Group's elasticity metrics of one
// resource (replicas or machines) over a run, as defined by Herbst et al.,
// "Quantifying Cloud Performance and Dependability: Taxonomy, Metric Design,
// and Emerging Challenges" (ACM TOMPECS 2018), with demand d_t and supply s_t
// sampled every Δt over a span T:
//
//	θ_U = 100/T · Σ max(d_t − s_t, 0) / d_t · Δt    under-provisioning accuracy, %
//	θ_O = 100/T · Σ max(s_t − d_t, 0) / d_t · Δt    over-provisioning accuracy, %
//	τ_U = 100/T · Σ [s_t < d_t] · Δt                under-provisioning timeshare, %
//	τ_O = 100/T · Σ [s_t > d_t] · Δt                over-provisioning timeshare, %
//	υ   = 100/(T − Δt) · Σ_{t≥2} min(|sgn Δs_t − sgn Δd_t|, 1) · Δt   instability, %
//	j   = (E_S − E_D) / T                           jitter, adaptations per hour
//
// where Δs_t = s_t − s_{t−1} and E_S, E_D count the samples where supply and
// demand change. Lower is better for all but jitter, whose sign says whether
// supply moves more (positive) or less often than demand.
//
// A demand of 0 would divide by zero in θ: it is taken as 1 there (the
// benchmark's demand is never below one replica or one machine anyway).
type Elasticity struct {
	ThetaU      float64 `json:"theta_u"`
	ThetaO      float64 `json:"theta_o"`
	TauU        float64 `json:"tau_u"`
	TauO        float64 `json:"tau_o"`
	Instability float64 `json:"instability"`
	Jitter      float64 `json:"jitter_per_hour"`
	// MeanDemand and MeanSupply are the time averages (context for θ).
	MeanDemand float64 `json:"mean_demand"`
	MeanSupply float64 `json:"mean_supply"`
}

// ErrSeries is returned for series that cannot be compared.
var ErrSeries = errors.New("demand and supply series must be non-empty and of equal length")

// Measure computes the metrics of supply against demand, both sampled every step.
func Measure(demand, supply []int32, step time.Duration) (Elasticity, error) {
	n := len(demand)
	if n == 0 || n != len(supply) || step <= 0 {
		return Elasticity{}, ErrSeries
	}
	var e Elasticity
	var changesS, changesD, unstable int
	for i := 0; i < n; i++ {
		d, s := float64(demand[i]), float64(supply[i])
		den := math.Max(d, 1)
		switch {
		case s < d:
			e.ThetaU += (d - s) / den
			e.TauU++
		case s > d:
			e.ThetaO += (s - d) / den
			e.TauO++
		}
		e.MeanDemand += d
		e.MeanSupply += s
		if i == 0 {
			continue
		}
		ds, dd := sgn(supply[i]-supply[i-1]), sgn(demand[i]-demand[i-1])
		if ds != 0 {
			changesS++
		}
		if dd != 0 {
			changesD++
		}
		if ds != dd {
			unstable++
		}
	}
	fn := float64(n)
	e.ThetaU *= 100 / fn
	e.ThetaO *= 100 / fn
	e.TauU *= 100 / fn
	e.TauO *= 100 / fn
	e.MeanDemand /= fn
	e.MeanSupply /= fn
	if n > 1 {
		e.Instability = 100 * float64(unstable) / float64(n-1)
	}
	hours := (time.Duration(n) * step).Hours()
	e.Jitter = float64(changesS-changesD) / hours
	return e, nil
}

func sgn(x int32) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// Speedup is the SPEC elastic speedup of a policy against a baseline: the
// geometric mean of the four ratios θ_U, θ_O, τ_U, τ_O of the baseline over
// the policy's. Above 1 the policy is more elastic than the baseline.
//
// A metric of 0 (a perfect score, e.g. the oracle's τ_U) would make a ratio
// infinite or undefined, so every metric is floored at 0.1 percentage points
// before dividing: differences below a tenth of a percent of the time are
// noise at the benchmark's resolution, and the floor caps any one ratio's
// contribution instead of letting it dominate the mean.
func Speedup(base, k Elasticity) float64 {
	f := func(x float64) float64 { return math.Max(x, speedupFloorPercent) }
	p := f(base.ThetaU) / f(k.ThetaU) * f(base.ThetaO) / f(k.ThetaO) *
		f(base.TauU) / f(k.TauU) * f(base.TauO) / f(k.TauO)
	return math.Pow(p, 0.25)
}
