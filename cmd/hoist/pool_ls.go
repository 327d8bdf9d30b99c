package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newPoolLsCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{Use: "ls", Short: "List pools", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		v, err := c.Pools(cmd.Context())
		if err != nil {
			return err
		}
		return o.show(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
			if len(v.Pools) == 0 {
				fmt.Fprintln(tw, "no pools")
				return
			}
			if o.wide() {
				fmt.Fprintln(tw, "NAME\tPROVIDER\tMACHINE\tACTIVE\tBOUNDS\tPHASES\tLAST DECISION")
			} else {
				fmt.Fprintln(tw, "NAME\tPROVIDER\tACTIVE\tBOUNDS\tPHASES\tLAST DECISION")
			}
			for _, p := range v.Pools {
				why := "-"
				if p.Decision != nil {
					why = fmt.Sprintf("%s: %s", p.Decision.Action, p.Decision.Reason)
				}
				if o.wide() {
					shape := fmt.Sprintf("%g CPU, %d MiB", p.Machine.CPUs, p.Machine.Memory>>20)
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d..%d\t%s\t%s\n", clean(p.Name), clean(p.Provider), shape, p.Active, p.Min, p.Max, clean(phases(p.Phases)), clean(why))
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d..%d\t%s\t%s\n", clean(p.Name), clean(p.Provider), p.Active, p.Min, p.Max, clean(phases(p.Phases)), clean(why))
			}
		})
	}}
}
