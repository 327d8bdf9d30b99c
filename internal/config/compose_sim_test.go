package config_test

import (
	"context"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/sim"
)

// The example stack file runs on the simulator: its x-hoist policies scale
// web with its sine load, within the bounds, and the loop's safety holds.
func TestComposeRunsOnTheSimulator(t *testing.T) {
	cfg, err := config.Load("../../examples/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.NewStack(cfg, sim.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	most := 0
	res, err := s.Run(context.Background(), sim.RunOptions{Duration: 30 * time.Minute, OnTick: func(s *sim.Stack, p *engine.Plan) {
		for _, a := range p.Apps {
			if a.App == "web" {
				most = max(most, a.Desired)
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Violations) > 0 {
		t.Fatalf("violations: %v", res.Violations)
	}
	if most <= 2 || most > 16 {
		t.Fatalf("web's most replicas = %d, want it scaled out above deploy.replicas 2 and within x-hoist's 16", most)
	}
	t.Logf("%d ticks, web up to %d replicas, %+v", res.Ticks, most, res.Stats)
}
