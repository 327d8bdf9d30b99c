package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newAppsLsCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{Use: "ls", Short: "List apps", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		v, err := c.Apps(cmd.Context())
		if err != nil {
			return err
		}
		return o.show(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
			if len(v.Apps) == 0 {
				fmt.Fprintln(tw, "no apps: deploy one with 'hoist apps deploy', or give the descriptor some")
				return
			}
			if o.wide() {
				fmt.Fprintln(tw, "NAME\tSOURCE\tIMAGE\tDESIRED\tRUNNING\tSTARTING\tPENDING\tBOUNDS\tLAST DECISION\tPENDING BECAUSE")
			} else {
				fmt.Fprintln(tw, "NAME\tSOURCE\tIMAGE\tDESIRED\tRUNNING\tPENDING\tBOUNDS\tLAST DECISION")
			}
			for _, a := range v.Apps {
				src := a.Source
				if a.Overridden {
					src += "*"
				}
				d, r, p, bounds, why := "-", "-", "-", "-", "-"
				if a.Replicas != nil {
					d, r, p = strconv.Itoa(a.Replicas.Desired), strconv.Itoa(a.Replicas.Running), strconv.Itoa(a.Replicas.Pending)
				}
				if a.Decision != nil {
					bounds = fmt.Sprintf("%d..%d", a.Decision.Min, a.Decision.Max)
					why = fmt.Sprintf("%s: %s", a.Decision.Action, a.Decision.Reason)
				}
				if !o.wide() {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", clean(a.Name), clean(src), clean(a.Image), d, r, p, bounds, clean(why))
					continue
				}
				starting, because := "-", "-"
				if a.Replicas != nil {
					starting = strconv.Itoa(a.Replicas.Starting)
					if len(a.Replicas.Why) > 0 {
						because = strings.Join(a.Replicas.Why, "; ")
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", clean(a.Name), clean(src), clean(a.Image),
					d, r, starting, p, bounds, clean(why), clean(because))
			}
		})
	}}
}
