package sim

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/config"
)

// The simulator's speed: simulated hours per wall-clock second, with hoist's
// engine ticking every 10 s on it, as `hoist sim` and `hoist bench` run it.
//
//	go test ./internal/sim -run '^$' -bench Simulate -benchtime 3x
//
// apps=1 is examples/bench.yaml's shape (one app, a daily sine up to 1,000
// req/s: 27 replicas on 7 machines at the peak); apps=20 puts twenty such
// apps, a tenth of the load each, on one pool. Both use the CPU target policy
// (hoist's reactive rule, what issue 13's figures measured); apps=1,predictive
// is apps=1 under hoist's predictive policy, the bench's `hoist`.
func BenchmarkSimulate(b *testing.B) {
	for _, tc := range []struct {
		apps       int
		span       time.Duration
		predictive bool
	}{{1, 6 * time.Hour, false}, {20, time.Hour, false}, {1, 6 * time.Hour, true}} {
		name := fmt.Sprintf("apps=%d", tc.apps)
		if tc.predictive {
			name += ",predictive"
		}
		b.Run(name, func(b *testing.B) {
			simulated := 0.0
			var cpu time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cfg := benchConfig(tc.apps)
				if tc.predictive {
					predictive(cfg)
				}
				stack, err := NewStack(cfg, StackOptions{EventLimit: 10_000})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				cpu0 := processCPU()
				res, err := stack.Run(context.Background(), RunOptions{Duration: tc.span})
				cpu += processCPU() - cpu0
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Violations) > 0 {
					b.Fatalf("safety violations: %v", res.Violations)
				}
				simulated += res.Stats.Seconds / 3600
			}
			b.ReportMetric(simulated/b.Elapsed().Seconds(), "sim-hours/s")
			// Per second of CPU (every thread of the process): the figure that
			// does not shrink when other processes share the cores.
			b.ReportMetric(simulated/cpu.Seconds(), "sim-hours/cpu-s")
		})
	}
}

// processCPU is the CPU time of the whole process so far (user and system,
// every thread: the GC's work too).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchConfig(apps int) *config.Config {
	cfg := &config.Config{
		Controller: config.Controller{Interval: config.Duration(10 * time.Second)},
		Pools: []config.Pool{{Name: "workers", Provider: "sim", Min: 1, Max: 8 * apps,
			Machine: config.Shape{CPUs: 4, Memory: 8 << 30}, BootTime: config.Duration(90 * time.Second)}},
	}
	peak := 1000.0
	if apps > 1 {
		peak = 100
	}
	for i := 0; i < apps; i++ {
		cfg.Apps = append(cfg.Apps, config.App{Name: fmt.Sprintf("web%d", i), Image: "x", Pools: []string{"workers"},
			Resources: config.Resources{Limits: config.Shape{CPUs: 1, Memory: 1 << 30}, Reservations: config.Shape{CPUs: 1, Memory: 1 << 30}},
			Replicas:  config.Replicas{Min: 1, Max: 64}, SLO: config.SLO{LatencyP95: config.Duration(250 * time.Millisecond)},
			Policies: []config.Policy{{Type: config.PolicyTarget, Metric: "cpu", Target: 60}},
			Load: &config.Workload{CPUPerRequest: config.Duration(20 * time.Millisecond), Queue: 100,
				// Phases differ so the apps do not move in lockstep.
				Pattern: &config.Pattern{Shape: config.ShapeSine, Base: peak / 20, Peak: peak,
					Duration: config.Duration(6*time.Hour + time.Duration(i)*7*time.Minute)}}})
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return cfg
}

// predictive gives every app hoist's predictive policy instead of the CPU
// target, as bench.HoistDefault does for `hoist bench`'s hoist (without its
// import: internal/bench imports this package).
func predictive(cfg *config.Config) {
	for i := range cfg.Apps {
		a := &cfg.Apps[i]
		a.Policies = []config.Policy{{Type: config.PolicyPredictive, Target: 60}}
		a.Cooldown = config.Cooldown{}
		a.SetDefaults()
	}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
}
