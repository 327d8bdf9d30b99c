package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/series"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/throttle"
	"github.com/hoist/hoist/internal/workload"
)

// simBackend is the simulated cluster, its clock paced against the wall
// clock at speed.
type simBackend struct {
	cfg     *config.Config
	cluster *sim.Cluster
	speed   float64
	// after is how long `hoist plan --after` simulates before planning.
	after time.Duration
}

var _ backend = (*simBackend)(nil)

// throttles cap the simulated traffic of the tasks they limit.
func newSimBackend(cfg *config.Config, speed float64, after time.Duration, loads map[string]workload.Source, throttles *throttle.Book) (*simBackend, error) {
	c, err := sim.New(cfg, sim.Options{Loads: loads, Throttles: throttles})
	if err != nil {
		return nil, err
	}
	return &simBackend{cfg: cfg, cluster: c, speed: speed, after: after}, nil
}

// stack is the simulated cluster and rt's engine, to run as fast as it goes.
func (b *simBackend) stack(rt *Runtime) *sim.Stack {
	return &sim.Stack{Cluster: b.cluster, Engine: rt.Engine, Events: rt.Events, Guard: rt.Guard}
}

func (b *simBackend) parts() clusterParts {
	c := b.cluster
	return clusterParts{
		orchestrator: c, providers: c.Providers(), builtin: c, clock: c, services: c,
		load: func(app string) (series.Load, bool) {
			st := c.App(app)
			l := series.Load{Offered: st.Offered, P95: st.P95, CPU: st.CPU, NetRx: math.NaN(), NetTx: math.NaN()}
			// The traffic the model gives the app's tasks, throttled ones capped.
			if rx, err := c.TaskBytes(context.Background(), app, "net_rx", 0); err == nil {
				l.NetRx = sumValues(rx)
			}
			if tx, err := c.TaskBytes(context.Background(), app, "net_tx", 0); err == nil {
				l.NetTx = sumValues(tx)
			}
			return l, true
		},
	}
}

func (b *simBackend) actors() []actor                                       { return nil }
func (b *simBackend) mount(*http.ServeMux, func(http.Handler) http.Handler) {}
func (b *simBackend) close()                                                {}

// warm runs the simulation for b.after (hoist plan --after).
func (b *simBackend) warm(ctx context.Context, rt *Runtime) error {
	if b.after <= 0 {
		return nil
	}
	_, err := b.stack(rt).Run(ctx, sim.RunOptions{Duration: b.after})
	return err
}

// loop advances the simulated clock in whole seconds, paced against the
// wall clock, and ticks the engine every interval of simulated time.
func (b *simBackend) loop(ctx context.Context, rt *Runtime) error {
	term := newTerminal(rt)
	defer term.close()
	fmt.Fprintf(rt.out, "hoist: running %s on a simulated cluster at %gx speed; Ctrl-C to stop\n", describe(b.cfg), b.speed)
	const frame = 100 * time.Millisecond
	ticker := time.NewTicker(frame)
	defer ticker.Stop()
	c := b.cluster
	nextTick := c.Now()
	budget := 0.0 // simulated seconds owed
	lastStatus := time.Time{}
	var lastMinute time.Time // simulated
	for {
		select {
		case <-ctx.Done():
			term.end(fmt.Sprintf("hoist: stopped at %s (simulated)", c.Now().UTC().Format("15:04:05")))
			return nil
		case <-ticker.C:
			budget += b.speed * frame.Seconds()
			for budget >= 1 {
				budget--
				if !c.Now().Before(nextTick) {
					if _, err := rt.Engine.Tick(ctx); err != nil {
						fmt.Fprintf(rt.out, "tick: %s\n", clean(err.Error()))
					}
					nextTick = nextTick.Add(rt.Engine.Config().Interval())
				}
				c.Advance(time.Second)
			}
		}
		term.events()
		if time.Since(lastStatus) >= time.Second {
			lastStatus = time.Now()
			if term.tty {
				term.status(b.status(rt.Engine.Config()))
			} else if minute := c.Now().Truncate(time.Minute); minute.After(lastMinute) {
				// Not a terminal (a log): one status line per simulated minute.
				lastMinute = minute
				term.status(b.status(rt.Engine.Config()))
			}
		}
	}
}

func (b *simBackend) status(cfg *config.Config) string {
	s := b.cluster
	var parts []string
	for _, a := range cfg.Apps {
		st := s.App(a.Name)
		parts = append(parts, fmt.Sprintf("%s %d/%d run %.0f rps cpu %.0f%%", a.Name, st.Running, st.Desired, st.Offered, st.CPU))
	}
	for _, p := range cfg.Pools {
		st := s.Pool(p.Name)
		parts = append(parts, fmt.Sprintf("%s %d ready %d booting %d draining", p.Name, st.Ready, st.Booting, st.Draining))
	}
	return fmt.Sprintf("[%s] %s", s.Now().UTC().Format("15:04:05"), strings.Join(parts, " | "))
}

// sumValues adds a map's values (a total over tasks).
func sumValues(m map[string]float64) float64 {
	t := 0.0
	for _, v := range m {
		t += v
	}
	return t
}
