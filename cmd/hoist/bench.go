package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/bench"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/policy"
	"github.com/hoist/hoist/internal/workload"
)

func newBenchCmd() *cobra.Command {
	var (
		cfgPath  string
		out      string
		duration time.Duration
		warmup   time.Duration
		policies string
		fcOnly   bool
		tf       traceFlags
		pf       promFlags
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run hoist and the reference autoscalers on the same simulated cluster and trace; score their elasticity",
		Long: `bench runs each policy (hoist, hoist-reactive, hpa-ca, micado, elascale,
static-peak, oracle; hoist-descriptor on request) on the same simulated cluster,
the same load and the same machine boot time, and scores supply against demand
with the SPEC Research Group's elasticity metrics. It writes results.json,
report.md and PNG plots. With --forecast it only scores hoist's demand forecast
on the load (coverage and MASE at the replica and machine horizons).

The load is the descriptor's, a --trace CSV, or an app's own history: with
--prometheus URL --query PROMQL it reads the query's one series from
Prometheus over the last --since (a range query, a value per --step; steps
without a value hold the last one), so an operator sees what each policy,
hoist's included, would have done on their cluster before switching.`,
		Example: `  hoist bench --config examples/bench.yaml --duration 24h --out /tmp/bench
  hoist bench --config examples/bench.yaml --prometheus http://127.0.0.1:9090 \
      --query 'sum(rate(http_requests_total{app="web"}[5m]))' --since 7d --step 1m --out /tmp/mine
  hoist bench --config examples/bench.yaml --trace ../shared/data/traces/nasa_http_1995/nasa_requests_per_minute.csv \
      --column requests --step 1m --peak 2000 --cut-zeros 1h --duration 168h --out docs/bench/nasa`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputDir(cmd); err != nil {
				return err
			}
			if fcOnly {
				return benchForecast(cmd, cfgPath, &tf, &pf, duration)
			}
			if out == "" {
				return usageErrorf("--out DIR is required")
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			simulateAll(cfg)
			load, what, d, err := benchSource(cmd.Context(), cfg, &tf, &pf, duration)
			if err != nil {
				return err
			}
			names := bench.DefaultPolicies
			if policies != "" {
				names = strings.Split(policies, ",")
				for i := range names {
					names[i] = strings.TrimSpace(names[i])
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			start := time.Now()
			res, err := bench.Run(ctx, bench.Spec{Config: cfg, Load: load, Duration: d, Warmup: warmup, Policies: names, Logger: slog.Default()})
			if err != nil {
				return err
			}
			meta := bench.Meta{Command: commandLine(), Trace: what, Duration: d, Warmup: warmup, Config: cfg, Policies: names}
			if meta.Warmup == 0 {
				meta.Warmup = bench.DefaultWarmup
			}
			if err := bench.Write(out, meta, res); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "benchmarked %d policies over %s in %.1fs\n", len(names), d, time.Since(start).Seconds())
			fmt.Fprintf(w, "  %-16s %7s %7s %7s %7s %9s %9s %9s %8s\n", "policy", "θU", "θO", "τU", "τO", "SLO-s", "replica-h", "machine-h", "speedup")
			lost := 0
			for _, n := range names {
				r := res[n]
				fmt.Fprintf(w, "  %-16s %7.2f %7.2f %7.2f %7.2f %9.0f %9.1f %9.1f %8s\n", n, r.Replicas.ThetaU, r.Replicas.ThetaO, r.Replicas.TauU, r.Replicas.TauO,
					r.SLOViolationSeconds, r.ReplicaHours, r.MachineHours, r.ElasticSpeedup.Replicas.String())
				lost += r.LostNodes
			}
			fmt.Fprintf(w, "wrote %s\n", filepath.Join(out, "{results.json,report.md,*.png}"))
			if lost > 0 {
				return &exitError{code: exitFailure, err: fmt.Errorf("%s destroyed with their node in the cluster", plural(lost, "machine"))}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "descriptor with one app on one pool (e.g. examples/bench.yaml)")
	cmd.Flags().StringVar(&out, "out", "", "directory for results.json, report.md and the plots")
	refuseOutputDir(cmd)
	cmd.Flags().DurationVar(&duration, "duration", 0, "measured time (default: the trace's length, else sim.duration)")
	cmd.Flags().DurationVar(&warmup, "warmup", 0, "time at the trace's first value before measuring (default 10m)")
	cmd.Flags().BoolVar(&fcOnly, "forecast", false, "only score hoist's demand forecast on the load (no policies run, no --out)")
	cmd.Flags().StringVar(&policies, "policies", "", "comma-separated policies (default: "+strings.Join(bench.DefaultPolicies, ",")+"; also hoist-descriptor)")
	tf.register(cmd)
	pf.register(cmd)
	return cmd
}

// benchSource is the bench's load: the app's history from Prometheus
// (--prometheus, --query, --since), else what benchLoad gives.
func benchSource(ctx context.Context, cfg *config.Config, tf *traceFlags, pf *promFlags, duration time.Duration) (workload.Source, string, time.Duration, error) {
	if !pf.set() {
		return benchLoad(cfg, tf, duration)
	}
	if len(cfg.Apps) == 0 {
		return nil, "", 0, fmt.Errorf("bench: the descriptor has no app")
	}
	s, what, err := pf.load(ctx, cfg, tf, time.Now())
	if err != nil {
		return nil, "", 0, err
	}
	d := duration
	if d == 0 {
		d = s.Length()
	}
	return s, what, d, nil
}

// benchLoad is the app's load: the --trace, else the descriptor's own trace or
// pattern; with a description and the measured duration.
func benchLoad(cfg *config.Config, tf *traceFlags, duration time.Duration) (workload.Source, string, time.Duration, error) {
	loads, traceLen, err := tf.load(cfg)
	if err != nil {
		return nil, "", 0, err
	}
	if len(cfg.Apps) == 0 {
		return nil, "", 0, fmt.Errorf("bench: the descriptor has no app")
	}
	app := cfg.Apps[0]
	var src workload.Source
	var what string
	switch {
	case loads != nil:
		for _, s := range loads {
			src = s
		}
		what = fmt.Sprintf("trace %s", filepath.Base(tf.file))
		if tf.column != "" {
			what += " column " + tf.column
		}
		what += fmt.Sprintf(", a row per %s", tf.step)
		if tf.cutZeros > 0 {
			what += fmt.Sprintf(", zero runs of %s or more cut", tf.cutZeros)
		}
		if tf.peak > 0 {
			what += fmt.Sprintf(", rescaled to a peak of %g req/s", tf.peak)
		}
	case app.Load != nil && app.Load.Trace != nil:
		t := app.Load.Trace
		step := t.Step.D()
		if step == 0 {
			step = time.Minute
		}
		s, err := workload.ReadCSV(t.File, t.Column, step)
		if err != nil {
			return nil, "", 0, err
		}
		if t.Peak > 0 {
			s.ScaleToPeak(t.Peak)
		}
		src, traceLen, what = s, s.Length(), "trace "+filepath.Base(t.File)
	case app.Load != nil && app.Load.Pattern != nil:
		p := app.Load.Pattern
		src = workload.Pattern(*p)
		what = fmt.Sprintf("synthetic %s load, %g to %g req/s", p.Shape, p.Base, p.Peak)
		if p.Duration > 0 {
			what += fmt.Sprintf(" over %s", p.Duration)
		}
	default:
		return nil, "", 0, fmt.Errorf("bench: app %s has no load: give --trace or a load in the descriptor", app.Name)
	}
	d := duration
	if d == 0 {
		d = cfg.Sim.Duration.D()
		if traceLen > 0 {
			d = traceLen
		}
	}
	return src, what, d, nil
}

// commandLine is the command as typed, for the report.
func commandLine() string {
	args := append([]string{"hoist"}, os.Args[1:]...)
	for i, a := range args {
		if strings.ContainsAny(a, " \t'\"$") {
			args[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(args, " ")
}

// benchForecast scores hoist's forecaster on the bench's load at the horizons
// the predictive policy uses: two ticks (replicas, at policy.PredictQuantile)
// and the pool's boot time plus two ticks (machines, at
// policy.PredictMachineQuantile). The boot time here is the descriptor's,
// as the evaluation's horizon; hoist itself measures it.
func benchForecast(cmd *cobra.Command, cfgPath string, tf *traceFlags, pf *promFlags, duration time.Duration) error {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	simulateAll(cfg)
	load, what, d, err := benchSource(cmd.Context(), cfg, tf, pf, duration)
	if err != nil {
		return err
	}
	tick := cfg.Interval()
	boot := time.Duration(0)
	if len(cfg.Pools) > 0 {
		boot = cfg.Pools[0].BootTime.D()
	}
	hs := []time.Duration{2 * tick, boot + 2*tick}
	qs := []float64{policy.PredictQuantile, policy.PredictMachineQuantile}
	sc, err := bench.ForecastQuality(load, d, tick, hs, qs)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "forecast of %s over %s, a sample per %s, scored after the first day\n", what, d, tick)
	fmt.Fprintf(w, "  %-9s %8s %9s %6s %8s %7s %7s\n", "horizon", "quantile", "coverage", "MASE", "healthy", "width", "ticks")
	for _, s := range sc {
		fmt.Fprintf(w, "  %-9s %8.2f %8.1f%% %6.3f %7.1f%% %7.3f %7d\n", s.Horizon, s.Quantile, 100*s.Coverage, s.MASE, 100*s.Healthy, s.Width, s.Ticks)
	}
	return nil
}
