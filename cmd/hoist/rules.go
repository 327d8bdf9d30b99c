package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/alerting"
	"github.com/hoist/hoist/internal/prom"
)

func newRulesCmd() *cobra.Command {
	var cfgPath, out string
	var reload bool
	cmd := &cobra.Command{
		Use:   "rules --config FILE --out DIR",
		Short: "Write the Prometheus alert rule files hoist manages for a descriptor",
		Long: `Write the rule files hoist would manage for the descriptor: one per app with an
alert policy (hoist-app-NAME.yml) and one per pool with an alert block
(hoist-pool-NAME.yml). Files of DIR named hoist-*.yml that the descriptor no
longer asks for are removed; other files are left alone. With --reload,
Prometheus (prometheus.url) is asked to load them. 'hoist run' does the same by
itself in prometheus.rules_dir as apps come and go.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputDir(cmd); err != nil {
				return err
			}
			if out == "" {
				return usageErrorf("--out DIR is required")
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			var rl alerting.Reloader
			if reload {
				c, err := prom.New(cfg.Prometheus)
				if err != nil {
					return fmt.Errorf("--reload: %w", err)
				}
				rl = c
			}
			res, err := alerting.NewSyncer(out, rl, nil, nil).Sync(cmd.Context(), cfg.Apps, cfg.Pools)
			w := cmd.OutOrStdout()
			for _, n := range res.Written {
				fmt.Fprintln(w, "wrote", filepath.Join(out, n))
			}
			for _, n := range res.Removed {
				fmt.Fprintln(w, "removed", filepath.Join(out, n))
			}
			if err != nil {
				return err
			}
			if len(res.Written)+len(res.Removed) == 0 {
				fmt.Fprintln(w, "up to date:", len(alerting.Files(cfg.Apps, cfg.Pools)), "rule files in", out)
			}
			if res.Reloaded {
				fmt.Fprintln(w, "Prometheus reloaded")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfgPath, "config", "c", "", "descriptor (default: the built-in quickstart)")
	f.StringVar(&out, "out", "", "directory to write the rule files to")
	refuseOutputDir(cmd)
	f.BoolVar(&reload, "reload", false, "ask Prometheus (prometheus.url) to reload its rules")
	return cmd
}
