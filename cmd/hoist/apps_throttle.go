package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/api"
)

func newAppsThrottleCmd(o *clientOptions) *cobra.Command {
	var body api.ThrottleBody
	cmd := &cobra.Command{Use: "throttle NAME", Args: cobra.ExactArgs(1),
		Short: "Rate-limit an app's tasks in both directions for a while (all tasks, or --task)",
		Long: `Rate-limit the network traffic of an app's tasks, in each direction, for
--for (the agents apply it inside each task's network namespace; scale-ups are
held while it lasts). Throttling again renews it. Without --rate, show the
app's current limit. hoist apps unthrottle lifts it.`,
		ValidArgsFunction: completeArg(o, appNames),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			var v *api.ThrottleState
			if body.Rate == "" {
				v, err = c.Throttled(cmd.Context(), args[0])
			} else {
				v, err = c.Throttle(cmd.Context(), args[0], body)
			}
			if err != nil {
				return err
			}
			return o.show(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) { showThrottle(tw, v) })
		}}
	f := cmd.Flags()
	f.StringVar(&body.Rate, "rate", "", "limit in each direction, as tc writes rates (3Mbit, 500kbit)")
	f.StringVar(&body.Burst, "burst", "", "token bucket, such as 32KiB (default: 20 ms of the rate)")
	f.StringVar(&body.For, "for", "", "how long the limit lasts (default 10m)")
	f.StringSliceVar(&body.Tasks, "task", nil, "task ID to limit (repeatable; default: every task of the app)")
	return cmd
}

func showThrottle(tw *tabwriter.Writer, v *api.ThrottleState) {
	e := v.Throttle
	if e == nil {
		fmt.Fprintf(tw, "app %s: not throttled\n", clean(v.App))
		return
	}
	tasks := "every task"
	if len(e.Tasks) > 0 {
		cl := make([]string, len(e.Tasks))
		for i, t := range e.Tasks {
			cl[i] = clean(t)
		}
		tasks = strings.Join(cl, ", ")
	}
	fmt.Fprintf(tw, "app %s: %s limited to %s each way\n", clean(v.App), tasks, e.Limit)
	fmt.Fprintf(tw, "since\t%s\n", e.Since.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "until\t%s\n", e.Until.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "by\t%s (%s)\n", clean(e.By), clean(e.Reason))
}
