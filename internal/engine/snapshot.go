package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/policy"
)

// Snapshot is everything one decision is made on, observed at one instant.
type Snapshot struct {
	Time  time.Time
	State cluster.State
	// Machines is each pool's provider view; a pool whose listing failed is in
	// ProviderErr instead, and nothing is removed from it this tick.
	Machines    map[string][]cluster.Machine
	ProviderErr map[string]string
	// Records are hoist's machine records (copies).
	Records []cluster.MachineRecord
	// Busy names machines with a provider call under way.
	Busy map[string]bool
	// Apps are the apps to manage: the descriptor's and any extra ones.
	Apps []config.App
	// Metrics holds, per app, one sample per policy (index-aligned).
	Metrics map[string][]Sample
	// AnomalyHold names apps whose scale-up is held, with the reason.
	AnomalyHold map[string]string
	// Alerts holds, per app with alert policies, the alerts firing; nil when
	// the engine has no alert source (alert policies then have no data).
	Alerts map[string][]policy.Firing
	// Requests are the manual pool requests not yet carried out, by pool.
	Requests map[string]cluster.PoolRequest
}

// Sample is one policy's metric value.
type Sample struct {
	Value float64 `json:"value"`
	OK    bool    `json:"ok"`
	Err   string  `json:"error,omitempty"`
}

// memory is what the decision remembers between ticks. It is explicit state,
// passed to decide and returned changed, so decide stays a pure function.
type memory struct {
	apps map[string]*appMemory
	// unneeded: node ID -> since when it has been removable.
	unneeded map[string]time.Time
	// lastPoolUp: pool -> last time machines were ordered.
	lastPoolUp map[string]time.Time
	// nodeDown: machine -> since when its node has been missing or down.
	nodeDown map[string]time.Time
	// holds: subject -> the key of the last hold event (dedupe).
	holds map[string]string
	// orphans: service -> since when it has been deployed by hoist without
	// an app behind it (prune.go).
	orphans map[string]time.Time
}

type appMemory struct {
	target    []policy.TargetState
	threshold []policy.ThresholdState
	changes   []policy.Change
	lastUp    time.Time
	lastMove  time.Time // last change in either direction
}

func newMemory() *memory {
	return &memory{
		apps:       map[string]*appMemory{},
		unneeded:   map[string]time.Time{},
		lastPoolUp: map[string]time.Time{},
		nodeDown:   map[string]time.Time{},
		holds:      map[string]string{},
		orphans:    map[string]time.Time{},
	}
}

func (m *memory) app(name string, policies int) *appMemory {
	a, ok := m.apps[name]
	if !ok || len(a.target) != policies {
		a = &appMemory{target: make([]policy.TargetState, policies), threshold: make([]policy.ThresholdState, policies)}
		m.apps[name] = a
	}
	return a
}

func (m *memory) clear(subject string) { delete(m.holds, subject) }

// clone deep-copies the memory for a dry run.
func (m *memory) clone() *memory {
	c := newMemory()
	for k, v := range m.apps {
		a := *v
		a.target = make([]policy.TargetState, len(v.target))
		for i, t := range v.target {
			a.target[i] = t.Clone()
		}
		a.threshold = append([]policy.ThresholdState(nil), v.threshold...)
		a.changes = append([]policy.Change(nil), v.changes...)
		c.apps[k] = &a
	}
	for k, v := range m.unneeded {
		c.unneeded[k] = v
	}
	for k, v := range m.lastPoolUp {
		c.lastPoolUp[k] = v
	}
	for k, v := range m.nodeDown {
		c.nodeDown[k] = v
	}
	for k, v := range m.holds {
		c.holds[k] = v
	}
	for k, v := range m.orphans {
		c.orphans[k] = v
	}
	return c
}

// observe gathers a Snapshot. Any orchestrator error fails the whole tick; a
// provider or metric error is kept in the snapshot so the decision can hold
// what depends on it. feed is false for dry runs, which must not feed the
// guard's detectors a second value for the same tick.
func (e *Engine) observe(ctx context.Context, feed bool) (*Snapshot, error) {
	if err := e.loadRecords(ctx); err != nil {
		return nil, err
	}
	now := e.d.Clock.Now()
	st, err := e.d.Orchestrator.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("orchestrator state: %w", err)
	}
	s := &Snapshot{
		Time: now, State: st,
		Machines: map[string][]cluster.Machine{}, ProviderErr: map[string]string{},
		Busy: map[string]bool{}, Metrics: map[string][]Sample{}, AnomalyHold: map[string]string{},
	}
	for _, p := range e.cfg.Pools {
		var ms []cluster.Machine
		err := e.providerCall(p.Name, "list", func() (err error) {
			ms, err = e.d.Providers[p.Name].List(ctx)
			return err
		})
		if err != nil {
			s.ProviderErr[p.Name] = err.Error()
			e.holdEvent("provider:"+p.Name, events.Event{Kind: events.PoolHold, Pool: p.Name,
				Reason: "provider list failed, no machine change this tick: " + err.Error()}, "list-error")
			continue
		}
		e.mem.clear("provider:" + p.Name)
		s.Machines[p.Name] = ms
	}
	for _, r := range e.records {
		s.Records = append(s.Records, r.Clone())
	}
	for k := range e.busy {
		s.Busy[k] = true
	}
	s.Requests = e.requestsCopy()
	s.Apps = e.apps(st)
	if e.alerts != nil {
		s.Alerts = map[string][]policy.Firing{}
		for _, a := range s.Apps {
			if a.HasAlerts() {
				s.Alerts[a.Name] = e.alerts.Firing(a.Name)
			}
		}
	}
	running := map[string]int{}
	for _, t := range st.Tasks {
		if t.State == cluster.TaskRunning {
			running[t.Service]++
		}
	}
	if e.d.Guard != nil && feed {
		e.d.Guard.Observe(ctx, now, s.Apps, running, e.cfg.Interval())
	}
	for _, a := range s.Apps {
		samples := make([]Sample, len(a.Policies))
		for i, p := range a.Policies {
			if p.Type != config.PolicyTarget && p.Type != config.PolicyThreshold {
				continue
			}
			if running[a.Name] == 0 && p.Query == "" {
				samples[i] = Sample{Err: "no running replica"}
				continue
			}
			win := p.Window.D()
			if win == 0 {
				win = e.cfg.Interval()
			}
			v, err := e.d.Metrics.Value(ctx, MetricQuery{App: a.Name, Metric: p.Metric, Query: p.Query, Window: win})
			switch {
			case err == nil:
				samples[i] = Sample{Value: v, OK: true}
			case errors.Is(err, ErrNoData):
				samples[i] = Sample{Err: err.Error()}
			default:
				samples[i] = Sample{Err: "metric error: " + err.Error()}
			}
		}
		s.Metrics[a.Name] = samples
		if e.d.Guard != nil && a.OnAnomaly == config.OnAnomalyHold {
			if held, why := e.d.Guard.HoldScaleUp(a.Name, now); held {
				s.AnomalyHold[a.Name] = why
			}
		}
	}
	return s, nil
}

// apps returns the descriptor's apps followed by the extra ones, then the
// derived ones; a name seen first wins over a later app of the same name.
func (e *Engine) apps(st cluster.State) []config.App {
	out := append([]config.App(nil), e.cfg.Apps...)
	if e.d.ExtraApps == nil && e.d.Derive == nil {
		return out
	}
	seen := map[string]bool{}
	for _, a := range out {
		seen[a.Name] = true
	}
	add := func(apps []config.App) {
		for _, a := range apps {
			if !seen[a.Name] {
				seen[a.Name] = true
				out = append(out, a)
			}
		}
	}
	if e.d.ExtraApps != nil {
		add(e.d.ExtraApps(st))
	}
	if e.d.Derive != nil {
		add(e.d.Derive(e.cfg, out))
	}
	return out
}
