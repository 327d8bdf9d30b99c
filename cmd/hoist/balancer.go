package main

// The balancer layer on the real runtime (internal/balancer, docs/balancer.md):
// the engine's orchestrator deploys balancer apps as HAProxy services, the
// layer derives one balancer app per app that asks for it, and HAProxy's
// stats answer the lb_* metrics. `hoist balancer config` prints what a
// balancer would run with.

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/balancer"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
)

func init() {
	realHooks = append(realHooks, balancerHook)
	httpRoutes = append(httpRoutes, balancerRoutes)
	extraCommands = append(extraCommands, newBalancerCmd)
}

var (
	balancerMu      sync.Mutex
	balancerSources = map[*realParts]*balancer.Source{}
)

// balancerHook wires the layer into a real runtime's engine.
func balancerHook(ctx context.Context, cfg *config.Config, p *realParts, d *engine.Deps) error {
	layer := balancer.NewLayer()
	var pools []string
	for _, pl := range cfg.Pools {
		pools = append(pools, pl.Name)
	}
	d.Orchestrator = balancer.NewOrchestrator(d.Orchestrator, p.cli, layer,
		balancer.OrchestratorOptions{Pools: pools, Events: d.Events, Logger: d.Logger})
	d.Derive = layer.Derive
	src := balancer.NewSource(balancer.SourceOptions{State: p.orch, Logger: d.Logger, Active: func() bool {
		known, derived := layer.Known()
		return !derived || len(known) > 0
	}})
	go src.Run(ctx)
	d.Metrics = &balancer.Router{LB: src, Next: d.Metrics}
	balancerMu.Lock()
	balancerSources[p] = src
	balancerMu.Unlock()
	p.closers = append(p.closers, func() {
		balancerMu.Lock()
		delete(balancerSources, p)
		balancerMu.Unlock()
	})
	return nil
}

// balancerRoutes serves every balancer replica's latest stats under /balancer/.
func balancerRoutes(rt *Runtime, mux *http.ServeMux) {
	p := partsOf(rt)
	if p == nil {
		return
	}
	balancerMu.Lock()
	src := balancerSources[p]
	balancerMu.Unlock()
	if src != nil {
		mux.Handle("/balancer/", http.StripPrefix("/balancer", src.Handler()))
	}
}

func newBalancerCmd() *cobra.Command {
	root := &cobra.Command{Use: "balancer", Short: "The load-balancer layer (HAProxy in front of apps)"}
	var cfgPath string
	show := &cobra.Command{
		Use:   "config [APP]",
		Short: "Print the HAProxy configuration of an app's balancer (every app's without APP)",
		Long: `Print the HAProxy configuration hoist gives the balancer of each app with
a balancer: section, as it would run it (check it with haproxy -c -f FILE).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			n := 0
			for _, a := range cfg.Apps {
				p, ok := balancer.ParamsOf(a)
				if !ok || (len(args) == 1 && args[0] != a.Name) {
					continue
				}
				text, err := balancer.Render(p)
				if err != nil {
					return err
				}
				n++
				fmt.Fprintf(cmd.OutOrStdout(), "# %s (Swarm config %s)\n%s", balancer.Name(a.Name),
					balancer.ConfigName(balancer.Name(a.Name), text), text)
			}
			if n == 0 {
				return fmt.Errorf("no app with a balancer in %s", cfg.File)
			}
			return nil
		},
	}
	show.Flags().StringVarP(&cfgPath, "config", "c", "", "descriptor")
	show.MarkFlagRequired("config")
	root.AddCommand(show)
	return root
}
