package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
)

func newPlanCmd() *cobra.Command {
	var (
		cfgPath, data, agentCred string
		after                    time.Duration
		output                   string
	)
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "One dry-run decision on the current state, with reasons",
		Long: `Observe the cluster once and print what the next tick of 'hoist run' would
decide, and why, without acting: the same cluster, metric sources and durable
state (--data) as a run. On a simulated descriptor, --after runs the
simulation first so the plan is made on a cluster under load.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "text" { // what -o was called before table
				output = formatTable
			}
			if err := checkFormat(output); err != nil {
				return err
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			rt, err := newRuntime(ctx, cfg, runtimeOptions{ConfigPath: cfgPath, Data: data, AgentCredential: agentCred, After: after, Quiet: true})
			if err != nil {
				return err
			}
			defer rt.Close()
			if err := rt.backend.warm(ctx, rt); err != nil {
				return err
			}
			plan, err := rt.Engine.Plan(ctx)
			if err != nil {
				return err
			}
			if structured(output) {
				return writeData(cmd.OutOrStdout(), output, plan)
			}
			printPlan(cmd.OutOrStdout(), plan)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfgPath, "config", "c", "", "descriptor (default: the built-in quickstart)")
	f.StringVar(&data, "data", "", "durable state of a stopped 'hoist run' (registered apps, policy overrides, machines)")
	f.StringVar(&agentCred, "agent-credential", "", "file of the agents' credential (default: DATA/"+AgentCredentialFile+")")
	f.DurationVar(&after, "after", 0, "simulated descriptors: run this long before planning")
	f.StringVarP(&output, "output", "o", formatTable, formatHelp)
	return cmd
}

func printPlan(w io.Writer, p *engine.Plan) {
	fmt.Fprintf(w, "plan at %s\n", p.Time.UTC().Format(time.RFC3339))
	for _, a := range p.Apps {
		fmt.Fprintf(w, "app %-12s %-6s %d -> %d (running %d, pending %d, bounds %d..%d): %s\n",
			clean(a.App), a.Action, a.Current, a.Desired, a.Running, a.Pending, a.Min, a.Max, clean(a.Reason))
		for _, v := range a.Votes {
			val := "no data"
			if v.HasValue {
				val = fmt.Sprintf("%.3g", v.Value)
			}
			fmt.Fprintf(w, "    %s %s %s = %s -> %d: %s\n", clean(config.PolicyLabel(v.Policy, v.Name)), v.Type, clean(v.Metric), val, v.Replicas, clean(v.Reason))
		}
	}
	for _, d := range p.Pools {
		fmt.Fprintf(w, "pool %-11s %-6s active %d (ready %d, booting %d, leaving %d), bounds %d..%d, tasks needing room %d, create %d",
			clean(d.Pool), d.Action, d.Active, d.Ready, d.InFlight, d.Leaving, d.Min, d.Max, d.NeedRoom, d.Create)
		if len(d.Remove) > 0 {
			fmt.Fprintf(w, ", remove %s", clean(strings.Join(d.Remove, ",")))
		}
		fmt.Fprintf(w, ": %s\n", clean(d.Reason))
	}
	for _, m := range p.Machines {
		fmt.Fprintf(w, "machine %-20s %s -> %s %s: %s\n", clean(m.Machine), m.From, m.To, m.Action, clean(m.Reason))
	}
}
