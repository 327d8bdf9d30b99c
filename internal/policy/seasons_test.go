package policy

import (
	"testing"
	"time"
)

// The settings' seasons reach the forecaster: a ramp that repeats every 50 s
// (seasons: [50s], season_bucket: 2s) is asked for ahead by the fourth
// period, in the predictive mode (trusted once it has beaten naive for half
// a period, gateTicks); a changed season remakes the forecaster.
func TestPredictUsesTheSettingsSeasons(t *testing.T) {
	const period, step = 50 * time.Second, 2 * time.Second
	set := PredictSettings{SLO: 250 * time.Millisecond, Seasons: []time.Duration{period}, SeasonBucket: step}
	var st PredictState
	replicas := 5
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	load := func(d time.Duration) float64 {
		if x := d % period; x >= 20*time.Second && x < 36*time.Second {
			return 900
		}
		return 100
	}
	var p Prediction
	// Up to 10 s before the fourth rise (at 3 x 50 + 20 s).
	for d := time.Duration(0); d <= 160*time.Second; d += step {
		in := PredictInput{Input: Input{Now: t0.Add(d), Current: replicas, Ready: replicas}, Obs: world(load(d), replicas, 0.02),
			Step: step, Short: 2 * step, Long: 14 * time.Second}
		p = Predict(set, &st, in)
		replicas = p.Replicas
	}
	if p.Mode != "predictive" || p.Ahead*int(p.Capacity.PerReplica+1) < 900 {
		t.Errorf("10 s before the fourth rise to 900 req/s: mode %s (%s), ahead %d replicas of %.3g req/s; want predictive, room for 900",
			p.Mode, p.ModeWhy, p.Ahead, p.Capacity.PerReplica)
	}
	fc := st.forecast
	set.Seasons = []time.Duration{time.Hour}
	Predict(set, &st, PredictInput{Input: Input{Now: t0.Add(162 * time.Second), Current: replicas, Ready: replicas}, Obs: world(100, replicas, 0.02), Step: step, Short: 2 * step, Long: 14 * time.Second})
	if st.forecast == fc {
		t.Error("another season kept the forecaster made for the old one")
	}
}
