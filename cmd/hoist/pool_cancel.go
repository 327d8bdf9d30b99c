package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newPoolCancelDrainCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{Use: "cancel-drain MACHINE", Short: "Return a selected or draining machine to service", Args: cobra.ExactArgs(1),
		ValidArgsFunction: completeArg(o, machineNames),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			v, err := c.CancelDrain(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.show(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "machine %s: %s\n", clean(args[0]), clean(v.Message))
			})
		}}
}
