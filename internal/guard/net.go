package guard

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/throttle"
)

func isTraffic(metric string) bool { return metric == "net_rx" || metric == "net_tx" }

// Contributors are the tasks whose traffic made an anomaly of their app's:
// those above twice the (lower) median of the app's tasks, most first; when
// none stands out (the rise is even, or one task), every task with traffic.
// Pure, for tests.
func Contributors(perTask map[string]float64) []string {
	ids := make([]string, 0, len(perTask))
	for id, v := range perTask {
		if v > 0 {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool {
		if perTask[ids[i]] != perTask[ids[j]] {
			return perTask[ids[i]] > perTask[ids[j]]
		}
		return ids[i] < ids[j]
	})
	if len(perTask) < 2 {
		return ids
	}
	vals := make([]float64, 0, len(perTask))
	for _, v := range perTask {
		vals = append(vals, v)
	}
	sort.Float64s(vals)
	median := vals[(len(vals)-1)/2]
	var out []string
	for _, id := range ids {
		if perTask[id] > 2*median {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return ids
	}
	return out
}

// RiseContributors are the tasks whose traffic made an anomaly of their
// app's, given each task's traffic at the tick before (prev) and now: the
// tasks above twice the (lower) median, as Contributors; when none stands
// out, the tasks whose traffic rose since the tick before by at least half
// the largest rise (a flood caught in its first seconds has not yet made
// its task stand out, and naming every task would limit the innocent);
// without a rise to go by, every task with traffic. Pure, for tests.
func RiseContributors(prev, now map[string]float64) []string {
	out := Contributors(now)
	if len(out) != len(positive(now)) || len(prev) == 0 {
		return out // some stand out (or nothing to compare with)
	}
	top := 0.0
	for id, v := range now {
		if p, ok := prev[id]; ok {
			top = math.Max(top, v-p)
		}
	}
	if top <= 0 {
		return out
	}
	var rose []string
	for _, id := range out { // most traffic first
		if p, ok := prev[id]; ok && now[id]-p >= top/2 {
			rose = append(rose, id)
		}
	}
	return rose
}

func positive(m map[string]float64) []string {
	var out []string
	for id, v := range m {
		if v > 0 {
			out = append(out, id)
		}
	}
	return out
}

// taskTraffic is app's per-task traffic of metric (nil when unknown).
func (g *Guard) taskTraffic(ctx context.Context, app, metric string, window time.Duration) map[string]float64 {
	if g.net.Traffic == nil {
		return nil
	}
	per, err := g.net.Traffic.TaskBytes(ctx, app, metric, window)
	if err != nil {
		return nil
	}
	return per
}

func describeTasks(tasks []string) string {
	switch {
	case len(tasks) == 0:
		return "every task"
	case len(tasks) > 5:
		return strings.Join(short(tasks[:5]), ", ") + fmt.Sprintf(" and %d more", len(tasks)-5)
	}
	return strings.Join(short(tasks), ", ")
}

// short shortens Swarm's 25-character task IDs as docker does (12).
func short(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		if len(id) > 12 {
			id = id[:12]
		}
		out[i] = id
	}
	return out
}

// throttle puts (or renews) app's limit on tasks (nil: every task) and
// records the event. g.mu is held.
func (g *Guard) throttle(now time.Time, app string, tasks []string, t config.Throttle, by, why string) throttle.Entry {
	dur := t.For
	if dur == 0 {
		dur = config.DefaultThrottleFor
	}
	e := throttle.Entry{App: app, Tasks: tasks, Limit: throttle.Limit{Rate: uint64(t.Rate), Burst: uint64(t.Burst)},
		Since: now, Until: now.Add(dur.D()), By: by, Reason: why}
	if old, ok := g.net.Book.Get(app, now); ok && len(old.Tasks) > 0 && len(tasks) > 0 {
		// A renewal keeps the tasks already limited.
		for _, id := range old.Tasks {
			if !slices.Contains(e.Tasks, id) {
				e.Tasks = append(slices.Clone(e.Tasks), id)
			}
		}
	}
	action := "applied"
	if g.net.Book.Set(e) {
		action = "renewed"
	}
	e, _ = g.net.Book.Get(app, now)
	g.app(app).throttles[action]++
	g.events.Record(events.Event{Time: now, Kind: events.AppThrottle, App: app,
		Reason: fmt.Sprintf("throttle %s by %s: %s limited to %s each way until %s (%s)", action, by,
			describeTasks(e.Tasks), e.Limit, e.Until.UTC().Format("15:04:05"), why),
		Inputs: map[string]float64{"rate_bits": float64(e.Limit.Rate), "tasks": float64(len(e.Tasks))}})
	return e
}

// expire lifts the limits that ended by now. g.mu is held.
func (g *Guard) expire(now time.Time) {
	if g.net.Book == nil {
		return
	}
	for _, e := range g.net.Book.Expire(now) {
		g.lifted(now, e, "expired")
	}
}

func (g *Guard) lifted(now time.Time, e throttle.Entry, why string) {
	g.app(e.App).throttles["lifted"]++
	g.events.Record(events.Event{Time: now, Kind: events.AppThrottle, App: e.App,
		Reason: fmt.Sprintf("throttle lifted (%s): %s no longer limited to %s", why, describeTasks(e.Tasks), e.Limit)})
}

// ErrNoThrottling is returned when this hoist cannot throttle (no book).
var ErrNoThrottling = fmt.Errorf("this hoist cannot throttle")

// Throttle limits app's tasks (nil: all of them) by hand until now + t.For.
func (g *Guard) Throttle(now time.Time, app string, tasks []string, t config.Throttle, by string) (throttle.Entry, error) {
	if g.net.Book == nil {
		return throttle.Entry{}, ErrNoThrottling
	}
	if field, problem := config.CheckThrottle(t); field != "" {
		return throttle.Entry{}, fmt.Errorf("%s %s", field, problem)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.throttle(now, app, tasks, t, by, "by hand"), nil
}

// Lift removes app's limit; ok false when there was none.
func (g *Guard) Lift(now time.Time, app, by string) (throttle.Entry, bool) {
	if g.net.Book == nil {
		return throttle.Entry{}, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.net.Book.Lift(app)
	if ok {
		g.lifted(now, e, "by "+by)
	}
	return e, ok
}

// Throttled is app's limit if one is active at now.
func (g *Guard) Throttled(app string, now time.Time) (throttle.Entry, bool) {
	if g.net.Book == nil {
		return throttle.Entry{}, false
	}
	return g.net.Book.Get(app, now)
}
