package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/sim"
)

func newPlanCmd() *cobra.Command {
	var (
		cfgPath string
		after   time.Duration
		output  string
	)
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "One dry-run decision on the current state, with reasons",
		Long: `Observe the cluster once and print what the next tick would decide, and why,
without acting. On a simulated descriptor, --after runs the simulation first so
the plan is made on a cluster under load.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			var plan *engine.Plan
			if allSim(cfg) {
				stack, err := sim.NewStack(cfg, sim.StackOptions{})
				if err != nil {
					return err
				}
				if after > 0 {
					if _, err := stack.Run(cmd.Context(), sim.RunOptions{Duration: after}); err != nil {
						return err
					}
				}
				plan, err = stack.Engine.Plan(cmd.Context())
				if err != nil {
					return err
				}
			} else {
				plan, err = planSwarm(cmd, cfg)
				if err != nil {
					return err
				}
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(plan)
			}
			printPlan(cmd.OutOrStdout(), plan)
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "descriptor (default: the built-in quickstart)")
	cmd.Flags().DurationVar(&after, "after", 0, "simulated descriptors: run this long before planning")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func printPlan(w io.Writer, p *engine.Plan) {
	fmt.Fprintf(w, "plan at %s\n", p.Time.UTC().Format(time.RFC3339))
	for _, a := range p.Apps {
		fmt.Fprintf(w, "app %-12s %-6s %d -> %d (running %d, pending %d, bounds %d..%d): %s\n",
			a.App, a.Action, a.Current, a.Desired, a.Running, a.Pending, a.Min, a.Max, a.Reason)
		for _, v := range a.Votes {
			val := "no data"
			if v.HasValue {
				val = fmt.Sprintf("%.3g", v.Value)
			}
			fmt.Fprintf(w, "    policies[%d] %s %s = %s -> %d: %s\n", v.Policy, v.Type, v.Metric, val, v.Replicas, v.Reason)
		}
	}
	for _, d := range p.Pools {
		fmt.Fprintf(w, "pool %-11s %-6s active %d (ready %d, booting %d, leaving %d), bounds %d..%d, tasks needing room %d, create %d",
			d.Pool, d.Action, d.Active, d.Ready, d.InFlight, d.Leaving, d.Min, d.Max, d.NeedRoom, d.Create)
		if len(d.Remove) > 0 {
			fmt.Fprintf(w, ", remove %s", strings.Join(d.Remove, ","))
		}
		fmt.Fprintf(w, ": %s\n", d.Reason)
	}
	for _, m := range p.Machines {
		fmt.Fprintf(w, "machine %-20s %s -> %s %s: %s\n", m.Machine, m.From, m.To, m.Action, m.Reason)
	}
}
