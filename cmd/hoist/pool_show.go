package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newPoolShowCmd(o *clientOptions) *cobra.Command {
	var history, destroyed bool
	cmd := &cobra.Command{Use: "show NAME", Short: "Show a pool's machines and their lifecycle", Args: cobra.ExactArgs(1), ValidArgsFunction: completeArg(o, poolNames), RunE: func(cmd *cobra.Command, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		p, err := c.Pool(cmd.Context(), args[0], destroyed)
		if err != nil {
			return err
		}
		return o.show(cmd.OutOrStdout(), p, func(tw *tabwriter.Writer) {
			fmt.Fprintf(tw, "pool %s (%s): %d active, bounds %d..%d, %s\n", clean(p.Name), clean(p.Provider), p.Active, p.Min, p.Max, clean(phases(p.Phases)))
			if p.Decision != nil {
				fmt.Fprintf(tw, "decision: %s\n", clean(fmt.Sprintf("%s: %s", p.Decision.Action, p.Decision.Reason)))
			}
			fmt.Fprintln(tw, "MACHINE\tPHASE\tSINCE\tNODE\tAVAILABILITY\tTASKS\tRESERVED CPU\tNOTE")
			for _, m := range p.Machines {
				node, avail, tasks, res := "-", "-", "-", "-"
				if n := m.Node; n != nil {
					node, avail, tasks = m.NodeID, string(n.Availability), strconv.Itoa(n.Tasks)
					if n.Capacity.MilliCPU > 0 {
						res = fmt.Sprintf("%.0f%%", 100*float64(n.Reserved.MilliCPU)/float64(n.Capacity.MilliCPU))
					}
				}
				note := m.LastErr
				if m.Cancel {
					note = "drain cancelled"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", clean(m.Name), clean(string(m.Phase)), m.Since.UTC().Format("2006-01-02 15:04:05"),
					clean(node), clean(avail), tasks, res, clean(note))
				if history {
					for _, h := range m.History {
						// In the last column, so the table keeps its alignment.
						fmt.Fprintf(tw, "\t\t\t\t\t\t\t  %s %s: %s\n", h.Time.UTC().Format("2006-01-02 15:04:05"), clean(string(h.Phase)), clean(h.Reason))
					}
				}
			}
		})
	}}
	cmd.Flags().BoolVar(&history, "history", false, "print each machine's phase history")
	cmd.Flags().BoolVar(&destroyed, "destroyed", false, "include destroyed machines")
	return cmd
}
