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

	"github.com/hoist/hoist/internal/engine"
)

// ErrNoPrometheus is why a query has no data when no Prometheus is configured.
var ErrNoPrometheus = errors.New("the policy has a query but prometheus.url is not set")

// ErrNoBuiltin is why a built-in metric has no data without a built-in source.
var ErrNoBuiltin = errors.New("no built-in metric source")

// Router is an engine.MetricSource that routes by the kind of question. It
// is immutable: both sources are given to NewRouter.
type Router struct {
	builtin engine.MetricSource
	query   engine.MetricSource
}

var _ engine.MetricSource = (*Router)(nil)

// NewRouter routes built-in metrics to builtin and queries to query; either
// may be nil (its questions then have no data).
func NewRouter(builtin, query engine.MetricSource) *Router {
	return &Router{builtin: builtin, query: query}
}

// Builtin returns the built-in source (nil when there is none).
func (r *Router) Builtin() engine.MetricSource { return r.builtin }

// Value implements engine.MetricSource.
func (r *Router) Value(ctx context.Context, q engine.MetricQuery) (float64, error) {
	b, p := r.builtin, r.query
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
