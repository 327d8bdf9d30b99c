package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newReloadCmd() *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{Use: "reload", Short: "Make a running hoist re-read its descriptor and tokens (admin)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			v, err := c.Reload(cmd.Context())
			if err != nil {
				return err
			}
			return o.show(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "reloaded %s\n", clean(v.File))
				for _, p := range []struct {
					k string
					v []string
				}{{"added", v.AppsAdded}, {"removed", v.AppsRemoved}, {"changed", v.AppsChanged}} {
					if len(p.v) > 0 {
						fmt.Fprintf(tw, "apps %s:\t%s\n", p.k, clean(strings.Join(p.v, ", ")))
					}
				}
				showWarnings(tw, v.Warnings)
			})
		}}
	addClientFlags(cmd, o)
	return cmd
}
