package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hoist/hoist/internal/config"
)

// Meta describes a run for the report.
type Meta struct {
	Command  string
	Trace    string // what the load is
	Duration time.Duration
	Warmup   time.Duration
	Config   *config.Config
	Policies []string // in the order run
}

// WriteJSON writes results.json: an object keyed by policy name.
func WriteJSON(path string, res map[string]*Result) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return nil
}

// Write writes results.json, report.md and the plots into dir.
func Write(dir string, meta Meta, res map[string]*Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := WriteJSON(filepath.Join(dir, "results.json"), res); err != nil {
		return err
	}
	plots, err := Plot(dir, meta, res)
	if err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "report.md"))
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := Markdown(f, meta, res, plots); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Markdown writes the report: the command, the set-up, the tables, the plots.
func Markdown(w io.Writer, meta Meta, res map[string]*Result, plots []string) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	cfg := meta.Config
	p("# hoist bench: %s\n\n", meta.Trace)
	p("```sh\n%s\n```\n\n", meta.Command)
	if len(cfg.Apps) == 1 && len(cfg.Pools) == 1 {
		a, pl := cfg.Apps[0], cfg.Pools[0]
		cpr, queue := config.DefaultCPUPerRequest, config.DefaultQueue
		if a.Load != nil {
			cpr, queue = a.Load.CPUPerRequest.D(), a.Load.Queue
		}
		p("Measured %s after a %s warm-up at the trace's first value; every policy on the same simulated cluster, sampled every second.\n\n", meta.Duration, meta.Warmup)
		p("- pool `%s`: machines of %g CPUs / %d MiB, %d..%d, boot time %s; container start %s\n", pl.Name, pl.Machine.CPUs, int64(pl.Machine.Memory)>>20, pl.Min, pl.Max, pl.BootTime, cfg.Sim.ContainerStart)
		p("- app `%s`: reservation %g CPU / %d MiB, limit %g CPU, replicas %d..%d, %s CPU per request, queue %d, SLO p95 %s\n",
			a.Name, a.Resources.Reservations.CPUs, int64(a.Resources.Reservations.Memory)>>20, a.Resources.Limits.CPUs, a.Replicas.Min, a.Replicas.Max, cpr, queue, a.SLO.LatencyP95)
		p("- demand d_t: the fewest replicas meeting the SLO at the second's load (sim.MinReplicas: p95 within the SLO, at most 0.1 %% dropped); machines: those replicas bin-packed onto the pool's shape. Supply s_t: running replicas, ready machines.\n\n")
	}
	p("## Elasticity (SPEC RG metrics, %%; lower is better; speedup > 1 is better than %s)\n\n", Baseline)
	for _, kind := range []string{"replicas", "machines"} {
		p("**%s**\n\n", kind)
		p("| policy | θ_U | θ_O | τ_U | τ_O | instability | jitter /h | mean demand | mean supply | elastic speedup |\n")
		p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, n := range meta.Policies {
			r := res[n]
			if r == nil {
				continue
			}
			e, sp := r.Replicas, r.ElasticSpeedup.Replicas
			if kind == "machines" {
				e, sp = r.Machines, r.ElasticSpeedup.Machines
			}
			p("| %s | %.3f | %.3f | %.3f | %.3f | %.2f | %.1f | %.2f | %.2f | %s |\n", n, e.ThetaU, e.ThetaO, e.TauU, e.TauO, e.Instability, e.Jitter, e.MeanDemand, e.MeanSupply, speedup(sp, res))
		}
		p("\n")
	}
	p("Elastic speedup (SPEC RG): the geometric mean of the four ratios of %s's θ_U, θ_O, τ_U, τ_O over the policy's, with no floor. A metric exactly 0 for both counts as a ratio of 1; 0 for the policy alone makes the speedup ∞, for %s alone 0; both at once, undefined.\n\n", Baseline, Baseline)
	p("## SLO and cost\n\n")
	p("| policy | SLO violated (s) | requests dropped or slow | replica-hours | machine-hours | replica actions | machine actions | machines created | pending task-s | lost nodes |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, n := range meta.Policies {
		r := res[n]
		if r == nil {
			continue
		}
		p("| %s | %.0f | %.3f %% | %.1f | %.1f | %d | %d | %d | %.0f | %d |\n", n, r.SLOViolationSeconds, 100*r.BadRequestShare, r.ReplicaHours, r.MachineHours,
			r.ScalingActions.Replicas, r.ScalingActions.Machines, r.MachinesCreated, r.PendingTaskSec, r.LostNodes)
	}
	p("\nSLO violated: seconds with p95 over the SLO or more than 0.1 %% of requests dropped. Machine-hours count machines from the order to the destroy (booting ones are paid for). Replica actions: changes of the replica count; machine actions: machines created plus destroyed.\n\n")
	p("## Policies\n\n")
	byName := map[string]Policy{}
	for _, pol := range Policies() {
		byName[pol.Name] = pol
	}
	for _, n := range meta.Policies {
		p("- `%s`: %s\n", n, byName[n].Doc)
	}
	p("\nReference parameters (internal/bench/params.go):\n\n| policy | parameter | value | source |\n|---|---|---|---|\n")
	for _, x := range Parameters {
		p("| %s | %s | %s | %s |\n", x.Policy, x.Name, x.Value, x.Source)
	}
	if len(plots) > 0 {
		p("\n## Plots\n\n")
		for _, pl := range plots {
			p("![%s](%s)\n\n", strings.TrimSuffix(pl, ".png"), pl)
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func speedup(x Ratio, res map[string]*Result) string {
	if _, ok := res[Baseline]; !ok {
		return "-"
	}
	return x.String()
}
