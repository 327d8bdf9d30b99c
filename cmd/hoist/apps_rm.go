package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newAppsRmCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{Use: "rm NAME", Short: "Delete an app registered through the API (its service and rules too)", Args: cobra.ExactArgs(1),
		ValidArgsFunction: completeArg(o, appNames),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			v, err := c.DeleteApp(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.show(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "app %s: deleted\n", clean(args[0]))
				showWarnings(tw, v.Warnings)
			})
		}}
}
