package main

// `hoist balancer config` prints what a balancer of the load-balancer layer
// (internal/balancer, docs/balancer.md; wired in backend_swarm.go) runs with.

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/balancer"
)

func newBalancerCmd() *cobra.Command {
	root := &cobra.Command{Use: "balancer", Short: "The load-balancer layer (HAProxy in front of apps)"}
	var cfgPath string
	show := &cobra.Command{
		Use:   "config [APP]",
		Short: "Print the HAProxy configuration of an app's balancer (every app's without APP)",
		Long: `Print the HAProxy configuration hoist gives the balancer of each app with
a balancer: section, as it would run it (check it with haproxy -c -f FILE).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			n := 0
			for _, a := range cfg.Apps {
				p, ok := balancer.ParamsOf(a)
				if !ok || (len(args) == 1 && args[0] != a.Name) {
					continue
				}
				text, err := balancer.Render(p)
				if err != nil {
					return err
				}
				n++
				fmt.Fprintf(cmd.OutOrStdout(), "# %s (Swarm config %s)\n%s", balancer.Name(a.Name),
					balancer.ConfigName(balancer.Name(a.Name), text), text)
			}
			if n == 0 {
				return fmt.Errorf("no app with a balancer in %s", cfg.File)
			}
			return nil
		},
	}
	show.Flags().StringVarP(&cfgPath, "config", "c", "", "descriptor")
	show.MarkFlagRequired("config")
	root.AddCommand(show)
	return root
}
