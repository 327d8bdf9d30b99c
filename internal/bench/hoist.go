package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/hoist/hoist/internal/config"
)

// HoistDefault gives app hoist's default policy, what the benchmark runs as
// `hoist`: one predictive policy (internal/policy Predict) against the app's
// slo, every other field at its default:
//
//   - replicas = what the upper forecast of the request rate over the next
//     two ticks needs at the per-replica capacity learned from the observed
//     rate, CPU and p95 (the CPU target, 60 %, until learned), never below
//     what the rate needs now; at once upwards; downwards to the highest need
//     of the last 3 minutes;
//   - machines: room for the replicas the upper forecast needs within the
//     pool's measured order-to-ready time is ordered now (bin-packed, in the
//     tick), and scale-in keeps it.
//
// Machines otherwise follow the pool's own settings (defaults: a node
// unneeded for 5 minutes is drained and removed, not within 5 minutes of
// adding machines; unneeded means its tasks fit on the other nodes and either
// it is under 50 % reserved or the others stay at or below 75 % after taking
// its tasks).
func HoistDefault(app *config.App) {
	app.Policies = []config.Policy{{Type: config.PolicyPredictive, Target: TargetCPU}}
	app.Cooldown = config.Cooldown{}
	app.SetDefaults()
}

// HoistReactive gives app hoist's reactive policy, the default before the
// predictive one (`hoist-reactive`): target tracking on CPU at TargetCPU with
// the descriptor's defaults (ceil(running x cpu / 60) outside a 10 %
// tolerance, scale-up at most +100 % or +4 per 15 s, scale-down to the highest
// recommendation of the last 5 minutes); machines as for HoistDefault but
// ordered only for tasks that exist or are being created.
func HoistReactive(app *config.App) {
	app.Policies = []config.Policy{{Type: config.PolicyTarget, Metric: "cpu", Target: TargetCPU}}
	app.Cooldown = config.Cooldown{}
	app.SetDefaults()
}

func hoistPolicy() Policy {
	return Policy{
		Name: "hoist",
		Doc: fmt.Sprintf("hoist's engine with its default policy: predictive (replicas for the upper forecast of the rate at a capacity learned "+
			"from rate, CPU and p95 against the SLO, %.0f %% CPU while learning; machines ordered a measured boot time ahead), "+
			"scale-in by the 50 %% rule or consolidation below 75 %%", TargetCPU),
		Prepare: func(cfg *config.Config, _ *Demand) { HoistDefault(&cfg.Apps[0]) },
		New:     newHoist,
	}
}

func hoistReactivePolicy() Policy {
	return Policy{
		Name: "hoist-reactive",
		Doc: fmt.Sprintf("hoist's engine with its reactive policy: target tracking on CPU at %.0f %% "+
			"(tolerance 0.1, scale-up max(100 %%, 4) per 15 s, 5 min scale-down stabilisation), machines from bin-packing in the same tick, "+
			"scale-in by the 50 %% rule or consolidation below 75 %%", TargetCPU),
		Prepare: func(cfg *config.Config, _ *Demand) { HoistReactive(&cfg.Apps[0]) },
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
