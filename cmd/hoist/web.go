package main

// The dashboard of `hoist run`: its files on the --listen server, the time
// series recorder fed after every tick, and, on the simulator, a default
// listener so that `hoist run` alone shows scaling in a browser.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/hoist/hoist/internal/api"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/series"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/web"
)

// defaultListen is where `hoist run` on the simulator serves the API and the
// dashboard when --listen is not given: loopback only, so no token is needed.
const defaultListen = "127.0.0.1:8080"

// listenDefault marks, in runOptions.extra, a run from the command line whose
// --listen was not given (tests that build runOptions themselves never get
// a listener they did not ask for).
const listenDefault = "\x00listen-default"

func init() {
	runFlags = append(runFlags, dashboardFlags)
	simHooks = append(simHooks, dashboardListen)
	runHooks = append(runHooks, feedSeries)
	apiOptionHooks = append(apiOptionHooks, func(rt *Runtime, o *api.Options) { o.Series = recorderFor(rt) })
	httpRoutes = append(httpRoutes, mountDashboard)
	listenHooks = append(listenHooks, func(rt *Runtime, base string, w io.Writer) {
		fmt.Fprintf(w, "hoist: dashboard on %s/\n", base)
	})
}

// givenValue wraps the --listen flag to notice it was given (even empty:
// --listen= turns the default listener off).
type givenValue struct {
	pflag.Value
	extra map[string]string
}

func (v givenValue) Set(s string) error {
	delete(v.extra, listenDefault)
	return v.Value.Set(s)
}

func dashboardFlags(f *pflag.FlagSet, opt *runOptions) {
	fl := f.Lookup("listen")
	if fl == nil {
		return
	}
	opt.extra[listenDefault] = defaultListen
	fl.Value = givenValue{Value: fl.Value, extra: opt.extra}
	fl.Usage += "; on a simulated cluster " + defaultListen + " (or a free port if taken) unless given, --listen= for none"
}

// dashboardListen gives a simulated run without --listen the default
// listener; when another program holds the port, a free one (the URL printed
// says which) rather than failing a newcomer's first command.
func dashboardListen(_ *config.Config, opt *runOptions, _ *sim.StackOptions) (func(*Runtime), func(), error) {
	addr, ok := opt.extra[listenDefault]
	if !ok || opt.listen != "" {
		return nil, nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		slog.Info("default dashboard address taken; using a free port", "addr", addr, "err", err)
		host, _, _ := net.SplitHostPort(addr)
		addr = net.JoinHostPort(host, "0")
	} else {
		ln.Close()
	}
	opt.listen = addr
	return nil, nil, nil
}

var (
	recordersMu sync.Mutex
	recorders   = map[*Runtime]*series.Recorder{}
)

// recorderFor is rt's recorder, made on first use: the feeder and the API
// server start concurrently and either may ask first.
func recorderFor(rt *Runtime) *series.Recorder {
	recordersMu.Lock()
	defer recordersMu.Unlock()
	r := recorders[rt]
	if r == nil {
		r = series.New(series.DefaultPoints)
		recorders[rt] = r
	}
	return r
}

// feedSeries records a sample each time the engine completes a tick: the
// engine nudges it (the same observer as the rule sync's) and it records
// outside the tick, so it never slows the loop down.
func feedSeries(ctx context.Context, rt *Runtime, _ *runOptions, _ io.Writer) error {
	rec := recorderFor(rt)
	defer func() {
		recordersMu.Lock()
		delete(recorders, rt)
		recordersMu.Unlock()
	}()
	var load series.LoadFunc
	if rt.Sim != nil {
		c := rt.Sim.Cluster
		load = func(app string) (series.Load, bool) {
			st := c.App(app)
			return series.Load{Offered: st.Offered, P95: st.P95, CPU: st.CPU}, true
		}
	}
	ticked := make(tickNudge, 1)
	rt.Engine.AddObserver(ticked)
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticked:
		}
		plan, snap := rt.Engine.Last()
		if plan == nil || !plan.Time.After(last) {
			continue
		}
		last = plan.Time
		rec.Record(series.Tick{Plan: plan, Snapshot: snap, Machines: rt.Engine.Machines(), Load: load})
	}
}

func mountDashboard(rt *Runtime, mux *http.ServeMux) {
	var opt web.Options
	if a := runtimeAuth(rt); a != nil {
		opt.Open = a.Open
	}
	site, err := web.New(opt)
	if err != nil {
		// The files are embedded: this is a broken build, not a user error.
		slog.Error("dashboard unavailable", "err", err)
		return
	}
	site.Register(mux)
}
