// Package scrape is the loop hoist's scrapers share: internal/collector (the
// nodes' agents) and internal/balancer (the HAProxy replicas' stats). Every
// interval it reads the cluster, fetches every target the cluster names at
// once, each within a deadline, and hands the results over in one piece, so
// each scraper keeps only what is its own: which targets, how to fetch one,
// and what to keep of the answers.
package scrape

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/hoist/hoist/internal/cluster"
)

// StateSource gives the cluster's services, tasks and nodes (the swarm
// orchestrator fits).
type StateSource interface {
	State(ctx context.Context) (cluster.State, error)
}

// Target is one thing to fetch in a round: a node's agent, a replica's stats.
type Target[T any] struct {
	Key   string // what the result is about (a node ID, a task ID)
	Fetch func(ctx context.Context) (T, error)
}

// Result is one target's outcome. Value is whatever Fetch returned, also
// with an error (a scraper may put what it knows of the target in it).
type Result[T any] struct {
	Key   string
	Value T
	Err   error
	Time  time.Time // when the fetch ended
}

// Loop scrapes every Interval until its context ends.
type Loop[T any] struct {
	Name     string // in log messages
	State    StateSource
	Interval time.Duration
	// Timeout bounds each fetch (default twice Interval: a slow target
	// delays one round, never the ones after).
	Timeout time.Duration
	// Active, when set, says whether there is anything to scrape: no cluster
	// calls while it is false.
	Active func() bool
	// Targets names what to fetch in the cluster's state.
	Targets func(st cluster.State) []Target[T]
	// Apply receives the state and every target's result, once a round.
	Apply  func(st cluster.State, results []Result[T], now time.Time)
	Logger *slog.Logger
}

// Run scrapes at once, then every Interval, until ctx ends; it returns nil
// then (a failed round is logged and retried, never fatal).
func (l *Loop[T]) Run(ctx context.Context) error {
	t := time.NewTicker(l.Interval)
	defer t.Stop()
	for {
		l.Once(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Once scrapes one round: the cluster's state, then every target at once.
// Without the state there is no round (nothing is applied).
func (l *Loop[T]) Once(ctx context.Context) {
	if l.Active != nil && !l.Active() {
		return
	}
	st, err := l.State.State(ctx)
	if err != nil {
		if l.Logger != nil {
			l.Logger.Warn(l.Name+": cluster state", "err", err)
		}
		return
	}
	targets := l.Targets(st)
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = 2 * l.Interval
	}
	results := make([]Result[T], len(targets))
	var wg sync.WaitGroup
	for i, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			v, err := tg.Fetch(fctx)
			results[i] = Result[T]{Key: tg.Key, Value: v, Err: err, Time: time.Now()}
		}()
	}
	wg.Wait()
	l.Apply(st, results, time.Now())
}
