package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/engine"
)

// traffic is the mean bytes/s per replica of app's n running replicas, each
// receiving rx and sending tx, once the limits hoist wants cap the limited
// ones (a limited task moves at most the limit's rate each way). c.mu is held.
func (c *Cluster) traffic(app string, n int, rx, tx float64) (float64, float64) {
	if c.throttles == nil {
		return rx, tx
	}
	for _, e := range c.throttles.Active(c.now) {
		if e.App != app {
			continue
		}
		capped := 0
		for _, t := range c.tasks {
			if t.service == app && t.state == cluster.TaskRunning && e.Covers(t.id) {
				capped++
			}
		}
		limit := float64(e.Limit.Rate) / 8
		k := float64(min(capped, n))
		f := float64(n)
		return ((f-k)*rx + k*min(rx, limit)) / f, ((f-k)*tx + k*min(tx, limit)) / f
	}
	return rx, tx
}

// TaskBytes is each running task's bytes/s of net_rx or net_tx over the
// last step: the simulator spreads load evenly, so every task has the
// mean (guard.Traffic).
func (c *Cluster) TaskBytes(_ context.Context, app, metric string, window time.Duration) (map[string]float64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.loads[app]
	if !ok {
		return nil, fmt.Errorf("app %s: %w", app, engine.ErrNoData)
	}
	v, err := l.value(metric, Step)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, t := range c.tasks {
		if t.service == app && t.state == cluster.TaskRunning {
			out[t.id] = v
		}
	}
	return out, nil
}
