package bench

import (
	"fmt"
	"math"
	"time"

	"github.com/hoist/hoist/internal/forecast"
	"github.com/hoist/hoist/internal/workload"
)

// ForecastScore is how hoist's forecaster did on a load at one horizon.
type ForecastScore struct {
	Horizon  time.Duration
	Quantile float64
	// Coverage: share of ticks whose actual peak over the horizon was at or
	// under the upper bound; MASE: mean absolute error of the ensemble's peak
	// over that of the naive forecast (the last value); Healthy: share of
	// ticks the forecaster judged itself better than naive; Width: mean
	// upper bound over the actual peak. Scored after the first day (the
	// daily season needs one).
	Coverage, MASE, Healthy, Width float64
	Ticks                          int
}

// ForecastQuality replays load for d as hoist's predictive policy sees it
// (the rate averaged over each tick) and scores the forecast at each horizon
// with its quantile.
func ForecastQuality(load workload.Source, d, tick time.Duration, horizons []time.Duration, quantiles []float64) ([]ForecastScore, error) {
	if len(horizons) != len(quantiles) {
		return nil, fmt.Errorf("forecast quality: %d horizons, %d quantiles", len(horizons), len(quantiles))
	}
	n := int(d / tick)
	ys := make([]float64, n)
	for i := range ys {
		sum, k := 0.0, 0
		for s := time.Duration(0); s < tick; s += time.Second {
			sum += load.Rate(time.Duration(i)*tick + s)
			k++
		}
		ys[i] = sum / float64(k)
	}
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	warm := int(24 * time.Hour / tick)
	var out []ForecastScore
	for j, h := range horizons {
		f := forecast.New(forecast.Options{Step: tick, Quantile: quantiles[j]})
		steps := f.Steps(h)
		sc := ForecastScore{Horizon: h, Quantile: quantiles[j]}
		var errF, errN float64
		for i := 0; i+steps < n; i++ {
			f.Observe(t0.Add(time.Duration(i)*tick), ys[i])
			fc := f.Peak(h)
			if i < warm {
				continue
			}
			peak := 0.0
			for k := 1; k <= steps; k++ {
				peak = max(peak, ys[i+k])
			}
			sc.Ticks++
			if peak <= fc.Upper+1e-9 {
				sc.Coverage++
			}
			if fc.Healthy {
				sc.Healthy++
			}
			errF += math.Abs(fc.Point - peak)
			errN += math.Abs(fc.Naive - peak)
			if peak > 0 {
				sc.Width += fc.Upper / peak
			}
		}
		if sc.Ticks == 0 {
			return nil, fmt.Errorf("forecast quality: %s is too short to score after a day", d)
		}
		sc.Coverage /= float64(sc.Ticks)
		sc.Healthy /= float64(sc.Ticks)
		sc.Width /= float64(sc.Ticks)
		if errN > 0 {
			sc.MASE = errF / errN
		}
		out = append(out, sc)
	}
	return out, nil
}
