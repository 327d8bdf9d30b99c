package main

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newAppsSetPolicyCmd(o *clientOptions) *cobra.Command {
	var file string
	var minR, maxR int
	cmd := &cobra.Command{Use: "set-policy NAME [-f FILE] [--min N] [--max N]", Short: "Change an app's replicas, cooldown and policies",
		Args: cobra.ExactArgs(1), ValidArgsFunction: completeArg(o, appNames), RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			patch := map[string]any{}
			if file != "" {
				if patch, err = readSpec(file); err != nil {
					return err
				}
			}
			if minR > 0 || maxR > 0 {
				// The API replaces replicas whole: keep the bound not given.
				a, err := c.App(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				rep, _ := a.Spec["replicas"].(map[string]any)
				if rep == nil {
					rep = map[string]any{}
				}
				if minR > 0 {
					rep["min"] = minR
				}
				if maxR > 0 {
					rep["max"] = maxR
				}
				patch["replicas"] = rep
			}
			if len(patch) == 0 {
				return errors.New("nothing to change: give -f FILE, --min or --max")
			}
			v, err := c.SetPolicy(cmd.Context(), args[0], patch)
			if err != nil {
				return err
			}
			return o.show(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "app %s: policy set\n", clean(v.App.Name))
				showWarnings(tw, v.Warnings)
			})
		}}
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy update, YAML or JSON: replicas, cooldown and/or policies (- for stdin)")
	cmd.Flags().IntVar(&minR, "min", 0, "minimum replicas")
	cmd.Flags().IntVar(&maxR, "max", 0, "maximum replicas")
	return cmd
}

func newAppsResetPolicyCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{Use: "reset-policy NAME", Short: "Drop a descriptor app's policy override", Args: cobra.ExactArgs(1),
		ValidArgsFunction: completeArg(o, appNames),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			v, err := c.ResetPolicy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.show(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "app %s: back to the descriptor's policy\n", clean(args[0]))
				showWarnings(tw, v.Warnings)
			})
		}}
}
