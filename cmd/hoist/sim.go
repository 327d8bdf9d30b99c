package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/workload"
)

// traceFlags are the flags that replay a CSV trace as an app's load.
type traceFlags struct {
	file     string
	column   string
	step     time.Duration
	peak     float64
	cutZeros time.Duration
	app      string
}

func (t *traceFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&t.file, "trace", "", "CSV trace with a header to replay as load (requests/s per row, unless --peak rescales)")
	f.StringVar(&t.column, "column", "", "trace column to use (default: the last)")
	f.DurationVar(&t.step, "step", time.Minute, "time between two rows of the trace")
	f.Float64Var(&t.peak, "peak", 0, "rescale the trace so its maximum is this many requests/s")
	f.DurationVar(&t.cutZeros, "cut-zeros", 0, "drop runs of zeros at least this long (outages in the trace)")
	f.StringVar(&t.app, "app", "", "app that receives the trace (default: the first)")
}

// load returns the trace as the load of its app, and the trace's length.
func (t *traceFlags) load(cfg *config.Config) (map[string]workload.Source, time.Duration, error) {
	if t.file == "" {
		return nil, 0, nil
	}
	s, err := workload.ReadCSV(t.file, t.column, t.step)
	if err != nil {
		return nil, 0, err
	}
	s.CutZeroRuns(t.cutZeros)
	if t.peak > 0 {
		s.ScaleToPeak(t.peak)
	}
	app := t.app
	if app == "" {
		if len(cfg.Apps) == 0 {
			return nil, 0, fmt.Errorf("--trace: the descriptor has no app")
		}
		app = cfg.Apps[0].Name
	}
	if _, ok := cfg.App(app); !ok {
		return nil, 0, fmt.Errorf("--app: no app %q in the descriptor", app)
	}
	return map[string]workload.Source{app: s}, s.Length(), nil
}

// Summary is `hoist sim`'s summary.json.
type Summary struct {
	Apps               map[string]*sim.AppStats  `json:"apps"`
	Pools              map[string]*sim.PoolStats `json:"pools"`
	PendingTaskSeconds float64                   `json:"pending_task_seconds"`
	Ticks              int                       `json:"ticks"`
	WallSeconds        float64                   `json:"wall_seconds"`
	SimulatedSeconds   float64                   `json:"simulated_seconds"`
	SimHoursPerWallSec float64                   `json:"sim_hours_per_wall_second"`
	Events             int                       `json:"events"`
	Violations         []string                  `json:"safety_violations"`
}

func newSimCmd() *cobra.Command {
	var (
		cfgPath  string
		out      string
		duration time.Duration
		tf       traceFlags
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the engine on the simulated cluster as fast as possible; write timeline and summary",
		Example: `  hoist sim --config examples/quickstart.yaml --out /tmp/quick
  hoist sim --config examples/quickstart.yaml --trace ../shared/data/traces/nasa_http_1995/nasa_requests_per_minute.csv \
      --column requests --step 1m --peak 400 --cut-zeros 1h --duration 168h --out /tmp/nasa`,
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
			simulateAll(cfg)
			// Simulated time runs far ahead of the wall clock: a real
			// Prometheus has nothing to say about it (query: policies have no
			// data, as alert policies, which is what they had here before).
			cfg.Prometheus = config.Prometheus{}
			loads, traceLen, err := tf.load(cfg)
			if err != nil {
				return err
			}
			d := duration
			if d == 0 {
				d = cfg.Sim.Duration.D()
				if traceLen > 0 {
					d = traceLen
				}
			}
			// The runtime `hoist run` uses, its simulated clock run as fast as it goes.
			rt, err := newRuntime(cmd.Context(), cfg, runtimeOptions{ConfigPath: cfgPath, Loads: loads, Quiet: true})
			if err != nil {
				return err
			}
			defer rt.Close()
			stack := rt.backend.(*simBackend).stack(rt)
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			tl, err := os.Create(filepath.Join(out, "timeline.csv"))
			if err != nil {
				return err
			}
			defer tl.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			res, err := stack.Run(ctx, sim.RunOptions{Duration: d, Timeline: tl})
			if err != nil {
				return err
			}
			if err := tl.Close(); err != nil {
				return err
			}
			evs := stack.Events.List(events.Filter{})
			if err := writeEvents(filepath.Join(out, "events.jsonl"), evs); err != nil {
				return err
			}
			sum := Summary{
				Apps: res.Stats.Apps, Pools: res.Stats.Pools, PendingTaskSeconds: res.Stats.PendingTaskSeconds,
				Ticks: res.Ticks, WallSeconds: res.Wall.Seconds(), SimulatedSeconds: res.Stats.Seconds,
				Events: len(evs), Violations: res.Violations,
			}
			if sum.Violations == nil {
				sum.Violations = []string{}
			}
			if res.Wall > 0 {
				sum.SimHoursPerWallSec = res.Stats.Seconds / 3600 / res.Wall.Seconds()
			}
			b, _ := json.MarshalIndent(sum, "", "  ")
			if err := os.WriteFile(filepath.Join(out, "summary.json"), append(b, '\n'), 0o644); err != nil {
				return err
			}
			printSummary(cmd, &sum, d, out)
			if len(res.Violations) > 0 {
				return &exitError{code: exitFailure, err: fmt.Errorf("safety violations: %v", res.Violations)}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "descriptor (default: the built-in quickstart)")
	cmd.Flags().StringVar(&out, "out", "", "directory for timeline.csv, summary.json and events.jsonl")
	refuseOutputDir(cmd)
	cmd.Flags().DurationVar(&duration, "duration", 0, "simulated time to run (default: the trace's length, else sim.duration)")
	tf.register(cmd)
	return cmd
}

func writeEvents(path string, evs []events.Event) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, e := range evs {
		if err := enc.Encode(e); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func printSummary(cmd *cobra.Command, s *Summary, d time.Duration, out string) {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "simulated %s in %.2fs (%d ticks, %.0f simulated hours per second), %d events\n",
		d, s.WallSeconds, s.Ticks, s.SimHoursPerWallSec, s.Events)
	names := make([]string, 0, len(s.Apps))
	for n := range s.Apps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := s.Apps[n]
		drop := 0.0
		if a.RequestsTotal > 0 {
			drop = 100 * a.RequestsDropped / a.RequestsTotal
		}
		fmt.Fprintf(w, "  app %-10s replicas %d..%d  scale-ups %d  scale-downs %d  requests %.0f  dropped %.2f%%  SLO violated %.0fs\n",
			n, a.ReplicasMin, a.ReplicasMax, a.ScaleUps, a.ScaleDowns, a.RequestsTotal, drop, a.SLOViolationSeconds)
	}
	pools := make([]string, 0, len(s.Pools))
	for n := range s.Pools {
		pools = append(pools, n)
	}
	sort.Strings(pools)
	for _, n := range pools {
		p := s.Pools[n]
		fmt.Fprintf(w, "  pool %-9s nodes %d..%d  created %d  destroyed %d  machine-hours %.1f\n",
			n, p.NodesMin, p.NodesMax, p.MachinesCreated, p.MachinesDestroyed, p.NodeSeconds/3600)
	}
	fmt.Fprintf(w, "  pending task-seconds %.0f; safety violations %d\n", s.PendingTaskSeconds, len(s.Violations))
	fmt.Fprintf(w, "wrote %s/{timeline.csv,summary.json,events.jsonl}\n", out)
}

// simulateAll makes every pool simulated: `hoist sim` and `hoist bench` try a
// real descriptor on the simulator.
func simulateAll(cfg *config.Config) {
	for i := range cfg.Pools {
		p := &cfg.Pools[i]
		p.Provider, p.Local, p.Command = "sim", nil, nil
		if p.BootTime == 0 {
			p.BootTime = config.Duration(config.DefaultBootTime)
		}
	}
}
