package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/hoist/hoist/internal/config"
)

// HoistDefault gives app hoist's default policy, what the benchmark runs as
// `hoist`: one target-tracking policy on CPU, at TargetCPU percent of the
// limit, with every other field at the descriptor's defaults (see
// internal/config SetDefaults):
//
//   - desired = ceil(running x cpu / 60), untouched within 10 % of the target;
//   - scale-up at once, at most +100 % or +4 replicas per 15 s;
//   - scale-down to the highest recommendation of the last 5 minutes;
//   - no cooldowns; the engine's 10 s tick; cpu averaged over one tick.
//
// Machines follow the pool's own settings in the descriptor (defaults: a node
// unneeded for 5 minutes is drained and removed, not within 5 minutes of
// adding machines; unneeded means its tasks fit on the other nodes and either
// it is under 50 % reserved or the others stay at or below 75 % after taking
// its tasks); machines are ordered in the tick that scales replicas up, sized
// by bin-packing the tasks to come.
func HoistDefault(app *config.App) {
	app.Policies = []config.Policy{{Type: config.PolicyTarget, Metric: "cpu", Target: TargetCPU}}
	app.Cooldown = config.Cooldown{}
	app.SetDefaults()
}

func hoistPolicy() Policy {
	return Policy{
		Name: "hoist",
		Doc: fmt.Sprintf("hoist's engine with its default policy: target tracking on CPU at %.0f %% "+
			"(tolerance 0.1, scale-up max(100 %%, 4) per 15 s, 5 min scale-down stabilisation), machines from bin-packing in the same tick, "+
			"scale-in by the 50 %% rule or consolidation below 75 %%", TargetCPU),
		Prepare: func(cfg *config.Config, _ *Demand) { HoistDefault(&cfg.Apps[0]) },
		New:     newHoist,
	}
}

func hoistDescriptorPolicy() Policy {
	return Policy{
		Name: "hoist-descriptor",
		Doc:  "hoist's engine with the descriptor's own policies, as written",
		New:  newHoist,
	}
}

func newHoist(env *Env) (Controller, error) {
	return &hoistCtl{env: env, loop: loop{period: env.Config.Interval()}}, nil
}

// hoistCtl ticks hoist's engine on its interval.
type hoistCtl struct {
	env *Env
	loop
}

func (h *hoistCtl) Step(ctx context.Context, now time.Time) error {
	if !h.due(now) {
		return nil
	}
	if _, err := h.env.Engine.Tick(ctx); err != nil {
		return fmt.Errorf("hoist tick: %w", err)
	}
	return nil
}
