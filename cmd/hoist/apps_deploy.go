package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/api"
	"github.com/hoist/hoist/internal/config"
)

func newAppsDeployCmd(o *clientOptions) *cobra.Command {
	var file string
	var d deployFlags
	cmd := &cobra.Command{Use: "deploy [-f FILE | --name N --image I --pool P ...]", Short: "Deploy an app (what docker service create takes, plus its scaling policy)",
		Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			var spec map[string]any
			if file != "" {
				spec, err = readSpec(file)
			} else {
				spec, err = d.spec()
			}
			if err != nil {
				return err
			}
			v, err := c.Deploy(cmd.Context(), spec)
			if err != nil {
				return err
			}
			return o.show(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "app %s registered; the next tick deploys it\n", clean(v.App.Name))
				showWarnings(tw, v.Warnings)
			})
		}}
	cmd.Flags().StringVarP(&file, "file", "f", "", "app spec, YAML or JSON as in the descriptor's apps (- for stdin)")
	d.add(cmd)
	return cmd
}

// deployFlags build an app from `docker service create`-like flags.
type deployFlags struct {
	name, image          string
	pools, env           []string
	limitCPU, reserveCPU float64
	limitMem, reserveMem string
	minR, maxR, port     int
	targetCPU            float64
}

func (d *deployFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&d.name, "name", "", "app (service) name")
	f.StringVar(&d.image, "image", "", "image")
	f.StringSliceVar(&d.pools, "pool", nil, "pools it may run on (repeatable)")
	f.Float64Var(&d.limitCPU, "limit-cpu", 0, "CPU limit per task")
	f.StringVar(&d.limitMem, "limit-memory", "", "memory limit per task (512MiB)")
	f.Float64Var(&d.reserveCPU, "reserve-cpu", 0, "CPU reserved per task")
	f.StringVar(&d.reserveMem, "reserve-memory", "", "memory reserved per task")
	f.IntVar(&d.minR, "replicas-min", 1, "minimum replicas")
	f.IntVar(&d.maxR, "replicas-max", 0, "maximum replicas (default: the minimum)")
	f.StringSliceVar(&d.env, "env", nil, "environment VAR=value (repeatable)")
	f.IntVar(&d.port, "port", 0, "port the app serves on")
	f.Float64Var(&d.targetCPU, "target-cpu", 0, "add a target-tracking policy on CPU % (e.g. 60)")
}

// spec is the app the flags describe, as the API takes it.
func (d *deployFlags) spec() (map[string]any, error) {
	a := config.App{Name: d.name, Image: d.image, Pools: d.pools, Env: d.env, Port: d.port,
		Replicas: config.Replicas{Min: d.minR, Max: d.maxR}}
	a.Resources.Limits.CPUs, a.Resources.Reservations.CPUs = d.limitCPU, d.reserveCPU
	for _, m := range []struct {
		flag, value string
		to          *config.Bytes
	}{{"--limit-memory", d.limitMem, &a.Resources.Limits.Memory}, {"--reserve-memory", d.reserveMem, &a.Resources.Reservations.Memory}} {
		if m.value == "" {
			continue
		}
		b, err := config.ParseBytes(m.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.flag, err)
		}
		*m.to = b
	}
	if d.targetCPU > 0 {
		a.Policies = []config.Policy{{Type: "target", Metric: "cpu", Target: d.targetCPU}}
	}
	return api.SpecOf(a)
}
