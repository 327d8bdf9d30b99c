package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/guard"
	"github.com/hoist/hoist/internal/sim"
)

// runOptions are `hoist run`'s flags.
type runOptions struct {
	config string
	speed  float64
	quiet  bool
	listen string
	data   string
	tokens string
	extra  map[string]string // flags added by other features, by name
}

// Runtime is a running hoist: the engine and what it drives. Servers (API,
// metrics, dashboard) attach to it.
type Runtime struct {
	Config *config.Config
	Engine *engine.Engine
	Events *events.Memory
	// Sim is set when the cluster is simulated.
	Sim *sim.Stack
	// Guard is the anomaly guard watching every app's load.
	Guard *guard.Guard
}

// httpRoutes are mounted on the --listen server (API, dashboard, /metrics,
// webhooks); files of this package append to it.
var httpRoutes []func(rt *Runtime, mux *http.ServeMux)

// runHooks start things beside the loop (servers); each returns when ctx ends.
// Other files of this package append to it.
var runHooks []func(ctx context.Context, rt *Runtime, opt *runOptions, w io.Writer) error

// runFlags add flags to `hoist run`; other files of this package append to it.
var runFlags []func(f *pflag.FlagSet, opt *runOptions)

// simHooks prepare the simulated stack (durable state, registered apps):
// each may change the options before the stack is built, and returns what to
// call once the Runtime exists and when the run ends (either may be nil).
var simHooks []func(cfg *config.Config, opt *runOptions, so *sim.StackOptions) (attach func(*Runtime), done func(), err error)

func newRunCmd() *cobra.Command {
	opt := &runOptions{extra: map[string]string{}}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the control loop (the built-in quickstart on a simulated cluster by default)",
		Long: `Run the control loop against the descriptor's pools. With no --config it runs
the built-in quickstart on a simulated cluster in real time; --speed runs the
simulated clock faster. The event stream and a status line go to the terminal;
Ctrl-C stops cleanly.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(opt.config)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if allSim(cfg) {
				return runSimulated(ctx, cfg, opt, cmd.OutOrStdout())
			}
			return runSwarm(ctx, cfg, opt, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opt.config, "config", "c", "", "descriptor (default: the built-in quickstart)")
	f.Float64Var(&opt.speed, "speed", 1, "simulated clock speed-up (simulated pools only)")
	f.BoolVarP(&opt.quiet, "quiet", "q", false, "no status line, events only")
	f.StringVar(&opt.listen, "listen", "", "address for the API, dashboard and /metrics (e.g. 127.0.0.1:8080)")
	f.StringVar(&opt.data, "data", "", "directory for durable state (events, apps, machines)")
	f.StringVar(&opt.tokens, "tokens", "", "file of API tokens, one 'ROLE TOKEN' a line")
	for _, add := range runFlags {
		add(f, opt)
	}
	return cmd
}

func allSim(cfg *config.Config) bool {
	for _, p := range cfg.Pools {
		if p.Provider != "sim" {
			return false
		}
	}
	return true
}

// runSimulated runs the engine on the simulator in (scaled) real time.
func runSimulated(ctx context.Context, cfg *config.Config, opt *runOptions, w io.Writer) error {
	if opt.speed <= 0 {
		return fmt.Errorf("--speed must be > 0")
	}
	var so sim.StackOptions
	var attach []func(*Runtime)
	for _, h := range simHooks {
		a, done, err := h(cfg, opt, &so)
		if err != nil {
			return err
		}
		if done != nil {
			defer done()
		}
		if a != nil {
			attach = append(attach, a)
		}
	}
	stack, err := sim.NewStack(cfg, so)
	if err != nil {
		return err
	}
	rt := &Runtime{Config: cfg, Engine: stack.Engine, Events: stack.Events, Sim: stack, Guard: stack.Guard}
	for _, a := range attach {
		a(rt)
	}
	errc := make(chan error, len(runHooks))
	for _, h := range runHooks {
		go func() { errc <- h(ctx, rt, opt, w) }()
	}
	sub, unsub := stack.Events.Subscribe(1024)
	defer unsub()
	tty := isTerminal(w) && !opt.quiet
	fmt.Fprintf(w, "hoist: running %s on a simulated cluster at %gx speed; Ctrl-C to stop\n", describe(cfg), opt.speed)

	// The simulated clock advances in whole seconds, paced against the wall clock.
	const frame = 100 * time.Millisecond
	ticker := time.NewTicker(frame)
	defer ticker.Stop()
	interval := cfg.Interval()
	nextTick := stack.Cluster.Now()
	budget := 0.0 // simulated seconds owed
	lastStatus := time.Time{}
	var lastMinute time.Time // simulated
	for {
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "hoist: stopped at %s (simulated)\n", stack.Cluster.Now().UTC().Format("15:04:05"))
			return nil
		case err := <-errc:
			if err != nil {
				return err
			}
		case <-ticker.C:
			budget += opt.speed * frame.Seconds()
			for budget >= 1 {
				budget--
				if !stack.Cluster.Now().Before(nextTick) {
					if _, err := stack.Engine.Tick(ctx); err != nil {
						fmt.Fprintf(w, "tick: %v\n", err)
					}
					nextTick = nextTick.Add(interval)
				}
				stack.Cluster.Advance(time.Second)
			}
		}
		drainEvents(w, sub, tty)
		if time.Since(lastStatus) >= time.Second {
			lastStatus = time.Now()
			line := statusLine(stack, cfg)
			if tty {
				fmt.Fprintf(w, "\r\033[K%s", line)
			} else if minute := stack.Cluster.Now().Truncate(time.Minute); !opt.quiet && minute.After(lastMinute) {
				// Not a terminal (a log): one status line per simulated minute.
				lastMinute = minute
				fmt.Fprintln(w, line)
			}
		}
	}
}

func drainEvents(w io.Writer, sub <-chan events.Event, tty bool) {
	for {
		select {
		case e := <-sub:
			if tty {
				fmt.Fprint(w, "\r\033[K")
			}
			fmt.Fprintln(w, e.String())
		default:
			return
		}
	}
}

func statusLine(s *sim.Stack, cfg *config.Config) string {
	var parts []string
	for _, a := range cfg.Apps {
		st := s.Cluster.App(a.Name)
		parts = append(parts, fmt.Sprintf("%s %d/%d run %.0f rps cpu %.0f%%", a.Name, st.Running, st.Desired, st.Offered, st.CPU))
	}
	for _, p := range cfg.Pools {
		st := s.Cluster.Pool(p.Name)
		parts = append(parts, fmt.Sprintf("%s %d ready %d booting %d draining", p.Name, st.Ready, st.Booting, st.Draining))
	}
	return fmt.Sprintf("[%s] %s", s.Cluster.Now().UTC().Format("15:04:05"), strings.Join(parts, " | "))
}

func describe(cfg *config.Config) string {
	var apps []string
	for _, a := range cfg.Apps {
		apps = append(apps, a.Name)
	}
	sort.Strings(apps)
	name := cfg.File
	if name == "" {
		name = "descriptor"
	}
	return fmt.Sprintf("%s (apps %s; %d pools)", name, strings.Join(apps, ", "), len(cfg.Pools))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
