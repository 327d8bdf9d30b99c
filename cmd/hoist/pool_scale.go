package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/api"
	"github.com/hoist/hoist/internal/apiclient"
)

func newPoolScaleCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "scale NAME +N|-N|=N", Short: "Add (+2), remove (-1) or set (=5) machines; clamped to the pool's bounds",
		Long: "Flags go before NAME (hoist pool scale --server X workers -1), so that -1 is not read as a flag.",
		Args: cobra.ExactArgs(2), ValidArgsFunction: completeArg(o, poolNames), RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			scale, err := scaleCall(args[1])
			if err != nil {
				return err
			}
			v, err := scale(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			return o.show(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "pool %s: target %s", clean(v.Pool), plural(v.Target, "machine"))
				if v.Clamped {
					fmt.Fprintf(tw, " (asked %d, clamped to %d..%d)", v.Requested, v.Min, v.Max)
				}
				fmt.Fprintln(tw)
			})
		}}
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// errScaleArg is returned for a scale amount that is not +N, -N or =N.
var errScaleArg = errors.New("amount must be +N (add), -N (remove) or =N (set)")

// scaleCall is the API call an amount asks for.
func scaleCall(amount string) (func(ctx context.Context, c *apiclient.Client, pool string) (*api.PoolChange, error), error) {
	if len(amount) < 2 {
		return nil, errScaleArg
	}
	n, err := strconv.Atoi(amount[1:])
	if err != nil || n < 0 || (n == 0 && amount[0] != '=') {
		return nil, errScaleArg
	}
	switch amount[0] {
	case '+':
		return func(ctx context.Context, c *apiclient.Client, pool string) (*api.PoolChange, error) {
			return c.ScaleUp(ctx, pool, n)
		}, nil
	case '-':
		return func(ctx context.Context, c *apiclient.Client, pool string) (*api.PoolChange, error) {
			return c.ScaleDown(ctx, pool, n)
		}, nil
	case '=':
		return func(ctx context.Context, c *apiclient.Client, pool string) (*api.PoolChange, error) {
			return c.ScaleTo(ctx, pool, n)
		}, nil
	}
	return nil, errScaleArg
}
