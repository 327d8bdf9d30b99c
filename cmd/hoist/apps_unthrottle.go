package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newAppsUnthrottleCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{Use: "unthrottle NAME", Short: "Lift an app's rate limit", Args: cobra.ExactArgs(1),
		ValidArgsFunction: completeArg(o, appNames),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			v, err := c.Unthrottle(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.show(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "app %s: limit lifted\n", clean(args[0]))
			})
		}}
}
