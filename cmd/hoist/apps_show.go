package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/hoist/hoist/internal/config"
)

func newAppsShowCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{Use: "show NAME", Short: "Show an app: replicas, metrics, policy, last decision, recent events", Args: cobra.ExactArgs(1),
		ValidArgsFunction: completeArg(o, appNames),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			a, err := c.App(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.show(cmd.OutOrStdout(), a, func(tw *tabwriter.Writer) {
				over := ""
				if a.Overridden {
					over = ", policy overridden"
				}
				fmt.Fprintf(tw, "name:\t%s (%s%s)\n", clean(a.Name), clean(a.Source), over)
				fmt.Fprintf(tw, "image:\t%s\n", clean(a.Image))
				if r := a.Replicas; r != nil {
					fmt.Fprintf(tw, "replicas:\t%d desired, %d running, %d starting, %d pending\n", r.Desired, r.Running, r.Starting, r.Pending)
					for _, w := range r.Why {
						fmt.Fprintf(tw, "  pending:\t%s\n", clean(w))
					}
				}
				if d := a.Decision; d != nil {
					fmt.Fprintf(tw, "decision:\t%s (bounds %d..%d): %s\n", clean(fmt.Sprint(d.Action)), d.Min, d.Max, clean(d.Reason))
				}
				for _, m := range a.Metrics {
					val := strconv.FormatFloat(m.Value, 'f', 2, 64)
					if !m.OK {
						val = "no data: " + m.Error
					}
					fmt.Fprintf(tw, "%s:\t%s %s%s = %s\n", clean(config.PolicyLabel(m.Policy, specPolicyName(a.Spec, m.Policy))), clean(m.Type), clean(m.Metric), clean(m.Query), clean(val))
				}
				pol := map[string]any{"replicas": a.Spec["replicas"], "cooldown": a.Spec["cooldown"], "policies": a.Spec["policies"]}
				if text, err := yaml.Marshal(pol); err == nil {
					fmt.Fprintf(tw, "policy:\n%s", indent(cleanLines(string(text)), "  "))
				}
				if len(a.Events) > 0 {
					fmt.Fprintln(tw, "events:")
					for _, e := range a.Events {
						fmt.Fprintf(tw, "  %s\n", clean(e.String()))
					}
				}
			})
		}}
}

// specPolicyName is the name of policy i in an app's spec, if it has one.
func specPolicyName(spec map[string]any, i int) string {
	ps, _ := spec["policies"].([]any)
	if i < 0 || i >= len(ps) {
		return ""
	}
	p, _ := ps[i].(map[string]any)
	name, _ := p["name"].(string)
	return name
}
