// Package metrics holds hoist's metric sources and its own Prometheus
// exporter. The Router sends each policy's question to the source that can
// answer it: built-in metrics (cpu, memory, rps, latency_p95) to the
// collector or the simulator, PromQL queries to Prometheus. The Exporter
// serves hoist's /metrics, all prefixed hoist_.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hoist/hoist/internal/engine"
)

// ErrNoPrometheus is why a query has no data when no Prometheus is configured.
var ErrNoPrometheus = errors.New("the policy has a query but prometheus.url is not set")

// ErrNoBuiltin is why a built-in metric has no data before the source is set.
var ErrNoBuiltin = errors.New("no built-in metric source yet")

// Router is an engine.MetricSource that routes by the kind of question.
type Router struct {
	mu      sync.RWMutex
	builtin engine.MetricSource
	query   engine.MetricSource
}

var _ engine.MetricSource = (*Router)(nil)

// NewRouter routes built-in metrics to builtin and queries to query; either
// may be nil (its questions then have no data).
func NewRouter(builtin, query engine.MetricSource) *Router {
	return &Router{builtin: builtin, query: query}
}

// SetBuiltin sets the built-in source: the simulator exists only once the
// stack it belongs to is built, after the engine got this router.
func (r *Router) SetBuiltin(s engine.MetricSource) {
	r.mu.Lock()
	r.builtin = s
	r.mu.Unlock()
}

// Builtin returns the built-in source (nil before it is set).
func (r *Router) Builtin() engine.MetricSource {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.builtin
}

// Value implements engine.MetricSource.
func (r *Router) Value(ctx context.Context, q engine.MetricQuery) (float64, error) {
	r.mu.RLock()
	b, p := r.builtin, r.query
	r.mu.RUnlock()
	if q.Query != "" {
		if p == nil {
			return 0, fmt.Errorf("%w: %w", ErrNoPrometheus, engine.ErrNoData)
		}
		return p.Value(ctx, q)
	}
	if b == nil {
		return 0, fmt.Errorf("%w: %w", ErrNoBuiltin, engine.ErrNoData)
	}
	return b.Value(ctx, q)
}
