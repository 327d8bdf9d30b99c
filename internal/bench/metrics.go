package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
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

// Speedup is the SPEC elastic speedup of a policy k against a baseline, as
// SPEC RG defines it (Herbst et al., "Ready for Rain? A View from SPEC
// Research on the Future of Cloud Metrics", 2016; TOMPECS 2018): the
// geometric mean of the four ratios of the baseline's θ_U, θ_O, τ_U, τ_O
// over the policy's,
//
//	ε_k = (θU_b/θU_k · θO_b/θO_k · τU_b/τU_k · τO_b/τO_k)^(1/4)
//
// with no floor and no clamp. Above 1 the policy is more elastic.
//
// An exact zero (a perfect score: never under- or never over-provisioned)
// makes a ratio infinite or zero, and the formula gives exactly that:
//   - both 0: the two are equal on that metric; the ratio is 1 (0/0 read as
//     "no difference", the only value that leaves the other three to decide);
//   - only the policy's 0: the ratio is +Inf, so ε is +Inf (unless another
//     ratio is 0);
//   - only the baseline's 0: the ratio is 0, so ε is 0;
//   - both an infinite and a zero ratio: ε is undefined, NaN.
//
// The report prints these as ∞, 0 and "undefined"; results.json carries them
// as the strings "+Inf" and "NaN" (see Ratio).
func Speedup(base, k Elasticity) Ratio {
	ratio := func(b, x float64) float64 {
		switch {
		case b == 0 && x == 0:
			return 1
		case x == 0:
			return math.Inf(1)
		}
		return b / x
	}
	rs := [4]float64{ratio(base.ThetaU, k.ThetaU), ratio(base.ThetaO, k.ThetaO), ratio(base.TauU, k.TauU), ratio(base.TauO, k.TauO)}
	var inf, zero bool
	logSum := 0.0
	for _, r := range rs {
		switch {
		case math.IsInf(r, 1):
			inf = true
		case r == 0:
			zero = true
		default:
			logSum += math.Log(r)
		}
	}
	switch {
	case inf && zero:
		return Ratio(math.NaN())
	case inf:
		return Ratio(math.Inf(1))
	case zero:
		return 0
	}
	return Ratio(math.Exp(logSum / 4))
}

// Ratio is an elastic speedup: a finite number, +Inf or NaN (see Speedup).
// JSON has no infinity, so those two are written as the strings "+Inf" and
// "NaN", as Prometheus writes sample values.
type Ratio float64

// MarshalJSON writes a finite ratio as a number, the others as strings.
func (r Ratio) MarshalJSON() ([]byte, error) {
	f := float64(r)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Ratio) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		switch s {
		case "NaN":
			*r = Ratio(math.NaN())
		case "+Inf":
			*r = Ratio(math.Inf(1))
		case "-Inf":
			*r = Ratio(math.Inf(-1))
		default:
			return fmt.Errorf("speedup %q: want a number, \"+Inf\" or \"NaN\"", s)
		}
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("speedup: %w", err)
	}
	*r = Ratio(f)
	return nil
}

// String is the ratio as the report prints it.
func (r Ratio) String() string {
	f := float64(r)
	switch {
	case math.IsNaN(f):
		return "undefined"
	case math.IsInf(f, 1):
		return "∞"
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}
