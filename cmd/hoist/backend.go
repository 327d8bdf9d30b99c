package main

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist/hoist/internal/api"
	"github.com/hoist/hoist/internal/clock"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/series"
)

// backend is the cluster a Runtime drives: the simulator (backend_sim.go)
// or Docker Swarm with its machine providers (backend_swarm.go).
type backend interface {
	// parts are what the runtime builds the engine and the API with.
	parts() clusterParts
	// loop drives the engine until ctx ends, printing to the terminal.
	loop(ctx context.Context, rt *Runtime) error
	// actors run beside the loop until ctx ends (the collector's scrapes).
	actors() []actor
	// warm readies a one-off plan: observations that need time (rates need
	// two scrapes) or a simulated run first (hoist plan --after).
	warm(ctx context.Context, rt *Runtime) error
	// mount adds the backend's own read-only views, each wrapped by view.
	mount(mux *http.ServeMux, view func(http.Handler) http.Handler)
	close()
}

// clusterParts are a backend's engine dependencies and what the API and the
// dashboard need of it.
type clusterParts struct {
	orchestrator engine.Orchestrator
	providers    map[string]engine.Provider
	builtin      engine.MetricSource // cpu, memory, rps, latency_p95
	clock        clock.Clock         // nil: the wall clock
	async        bool                // machine operations in the background
	extraApps    func(cluster.State) []config.App
	derive       func(*config.Config, []config.App) []config.App
	// wrapMetrics wraps the routed metric source (nil: none).
	wrapMetrics func(engine.MetricSource) engine.MetricSource
	services    api.ServiceRemover
	load        series.LoadFunc // the app's offered load, when the backend knows it
	// collectors join hoist's /metrics (the collector's traffic and limits).
	collectors []prometheus.Collector
	// throttleReports is what the agents report of an app's limits (nil: none).
	throttleReports func(app string) []api.TaskLimit
}
