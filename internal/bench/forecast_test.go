package bench

import (
	"testing"
	"time"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/workload"
)

func TestForecastQualityOnADailySine(t *testing.T) {
	load := workload.Pattern{Shape: config.ShapeSine, Base: 50, Peak: 1000, Duration: config.Duration(24 * time.Hour)}
	sc, err := ForecastQuality(load, 3*24*time.Hour, 10*time.Second, []time.Duration{20 * time.Second, 2 * time.Minute}, []float64{0.98, 0.8})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sc {
		t.Logf("%+v", s)
		if s.Ticks == 0 || s.Coverage < s.Quantile-0.1 || s.Width < 1 {
			t.Errorf("horizon %s: coverage %.3f for quantile %.2f, width %.3f", s.Horizon, s.Coverage, s.Quantile, s.Width)
		}
	}
	// Two minutes ahead the daily season is worth having (naive, the last
	// value, lags the sine); 20 s ahead naive is hard to beat.
	if sc[1].MASE > 0.5 {
		t.Errorf("MASE two minutes ahead %.3f, want well under 1", sc[1].MASE)
	}
	if _, err := ForecastQuality(load, time.Hour, 10*time.Second, []time.Duration{time.Minute}, []float64{0.9}); err == nil {
		t.Error("an hour was scored (the first day is never scored)")
	}
}
