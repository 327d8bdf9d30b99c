package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	Machines map[string][]cluster.Machine
	// ProviderErr, Busy, AnomalyHold and Observed are nil while empty (most
	// ticks): four maps fewer to make every tick.
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
	// Ordered is when machines were last ordered for each pool, by the loop
	// or an operator: it starts the pool's scale-up cooldown.
	Ordered map[string]time.Time
	// Observed holds, per app with a predictive policy, its rate, CPU and p95.
	Observed map[string]policy.Observation
}

// Sample is one policy's metric value.
type Sample struct {
	Value float64 `json:"value"`
	OK    bool    `json:"ok"`
	Err   string  `json:"error,omitempty"`
}

// memory is what the decision remembers between ticks. decide takes it and
// returns the next one without changing the one it was given, so it stays a
// pure function; the tick then records in the next one what its acts did (a
// scale carried out, a service pruned). Nothing else writes it.
type memory struct {
	apps map[string]*appMemory
	// unneeded: node ID -> since when it has been removable.
	unneeded map[string]time.Time
	// lastPoolUp: pool -> last time machines were ordered.
	lastPoolUp map[string]time.Time
	// nodeDown: machine -> since when its node has been missing or down.
	nodeDown map[string]time.Time
	// orphans: service -> since when it has been deployed by hoist without
	// an app behind it (prune.go).
	orphans map[string]time.Time
	// boots: pool -> recent order-to-ready times (predictive horizons).
	boots map[string][]time.Duration
}

type appMemory struct {
	target    []policy.TargetState
	threshold []policy.ThresholdState
	predict   []policy.PredictState
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
		orphans:    map[string]time.Time{},
		boots:      map[string][]time.Duration{},
	}
}

func (m *memory) app(name string, policies int) *appMemory {
	a, ok := m.apps[name]
	if !ok || len(a.target) != policies {
		a = &appMemory{target: make([]policy.TargetState, policies), threshold: make([]policy.ThresholdState, policies),
			predict: make([]policy.PredictState, policies)}
		m.apps[name] = a
	}
	return a
}

// startApps makes, in a memory that has none yet, the memories decideApp
// will ask app for (the apps with a service), as app makes them but cut
// from a few shared allocations as clone does: a first tick at 10,000 apps
// made 40,000. A name met again is left to app, which replaces its memory
// if its policies differ, as it would have.
func (m *memory) startApps(apps []config.App, svcs []*cluster.Service) {
	n, nPolicies := 0, 0
	for i := range apps {
		if svcs[i] != nil {
			n++
			nPolicies += len(apps[i].Policies)
		}
	}
	mems := make([]appMemory, n)
	targets := make([]policy.TargetState, nPolicies)
	thresholds := make([]policy.ThresholdState, nPolicies)
	predicts := make([]policy.PredictState, nPolicies)
	for i := range apps {
		if svcs[i] == nil {
			continue
		}
		if _, ok := m.apps[apps[i].Name]; ok {
			continue
		}
		k := len(apps[i].Policies)
		a := &mems[0]
		mems = mems[1:]
		a.target, targets = targets[:k:k], targets[k:]
		a.threshold, thresholds = thresholds[:k:k], thresholds[k:]
		a.predict, predicts = predicts[:k:k], predicts[k:]
		m.apps[apps[i].Name] = a
	}
}

// clone deep-copies the memory. It runs every tick over every app, so the
// apps' memories and their per-policy slices are cut from a few shared
// allocations, each slice with its capacity at its length (an append copies
// it away instead of running into the next app's).
func (m *memory) clone() *memory {
	c := newMemory()
	c.apps = make(map[string]*appMemory, len(m.apps))
	var nTarget, nThreshold, nPredict, nChanges int
	for _, v := range m.apps {
		nTarget += len(v.target)
		nThreshold += len(v.threshold)
		nPredict += len(v.predict)
		nChanges += len(v.changes)
	}
	apps := make([]appMemory, len(m.apps))
	targets := make([]policy.TargetState, nTarget)
	thresholds := make([]policy.ThresholdState, nThreshold)
	predicts := make([]policy.PredictState, nPredict)
	changes := make([]policy.Change, nChanges)
	i := 0
	for k, v := range m.apps {
		a := &apps[i]
		i++
		*a = *v
		n := len(v.target)
		a.target, targets = targets[:n:n], targets[n:]
		for j, t := range v.target {
			a.target[j] = t.Clone()
		}
		// As append([]T(nil), v...) did: nil for an empty slice.
		a.threshold = nil
		if n := len(v.threshold); n > 0 {
			a.threshold, thresholds = thresholds[:n:n], thresholds[n:]
			copy(a.threshold, v.threshold)
		}
		n = len(v.predict)
		a.predict, predicts = predicts[:n:n], predicts[n:]
		for j, p := range v.predict {
			a.predict[j] = p.Clone()
		}
		a.changes = nil
		if n := len(v.changes); n > 0 {
			a.changes, changes = changes[:n:n], changes[n:]
			copy(a.changes, v.changes)
		}
		c.apps[k] = a
	}
	maps.Copy(c.unneeded, m.unneeded)
	maps.Copy(c.lastPoolUp, m.lastPoolUp)
	maps.Copy(c.nodeDown, m.nodeDown)
	maps.Copy(c.orphans, m.orphans)
	for k, v := range m.boots {
		c.boots[k] = append([]time.Duration(nil), v...)
	}
	return c
}

// withKey returns a copy of m with m[k] = v: how the engine changes a map
// that snapshots share (never written once shared).
func withKey[K comparable, V any](m map[K]V, k K, v V) map[K]V {
	return setIn(maps.Clone(m), k, v)
}

// setIn sets m[k] = v, making m first when it is nil.
func setIn[K comparable, V any](m map[K]V, k K, v V) map[K]V {
	if m == nil {
		m = map[K]V{}
	}
	m[k] = v
	return m
}

// poolListing is what a pool's provider listed.
type poolListing struct {
	pool     string
	machines []cluster.Machine
}

// listingMap is a snapshot's Machines: each pool's listing by its name. It
// is last (the map an earlier snapshot holds) when that map holds exactly
// these listings, the same slices (a provider repeats its last answer while
// nothing changed, as the simulator's does): no snapshot's map is written
// once made, so sharing it is making the same map again.
func listingMap(last map[string][]cluster.Machine, lists []poolListing) map[string][]cluster.Machine {
	same := last != nil && len(last) == len(lists)
	for _, l := range lists {
		if !same {
			break
		}
		ms, ok := last[l.pool]
		same = ok && sameSlice(ms, l.machines)
	}
	if same {
		return last
	}
	m := make(map[string][]cluster.Machine, len(lists))
	for _, l := range lists {
		m[l.pool] = l.machines
	}
	return m
}

// sameSlice: a and b are the same slice (array, length and capacity; both
// nil or neither, which JSON tells apart).
func sameSlice[T any](a, b []T) bool {
	if len(a) != len(b) || cap(a) != cap(b) || (a == nil) != (b == nil) {
		return false
	}
	return cap(a) == 0 || &a[:1][0] == &b[:1][0]
}

// observation is a Snapshot in the making: what observe read without the
// engine's lock, and the machine records as they were when it began.
type observation struct {
	snap     *Snapshot // &snapshot: one allocation for both
	snapshot Snapshot
	cfg      *config.Config
	// before marks each record at the start; a record that changed or
	// appeared since is newer than what the cluster and providers showed.
	before map[string]recordMark
}

// recordMark is what tells a changed machine record from an unchanged one.
type recordMark struct {
	phase    cluster.Phase
	node     string
	since    time.Time
	attempts int
	cancel   bool
}

func markOf(r *cluster.MachineRecord) recordMark {
	return recordMark{r.Phase, r.NodeID, r.Since, r.Attempts, r.Cancel}
}

// observe reads the cluster, the providers and the metrics. Any orchestrator
// error fails the whole tick; a provider or metric error is kept in the
// snapshot so the decision can hold what depends on it. The engine's lock is
// held only to copy what the reading needs, never while reading. feed is
// false for dry runs, which must not feed the guard's detectors a second
// value for the same tick.
func (e *Engine) observe(ctx context.Context, feed bool) (*observation, error) {
	e.mu.Lock()
	if err := e.loadRecords(ctx); err != nil {
		e.mu.Unlock()
		return nil, err
	}
	o := &observation{cfg: e.cfg}
	if feed {
		// The loop's: ticks run one at a time, and a tick's observation is
		// done with once its decision is made.
		e.scratch.before = reuse(e.scratch.before, len(e.records))
		o.before = e.scratch.before
	} else {
		o.before = make(map[string]recordMark, len(e.records))
	}
	for name, r := range e.records {
		o.before[name] = markOf(r)
	}
	alerts := e.alerts
	e.mu.Unlock()

	cfg := o.cfg
	now := e.d.Clock.Now()
	st, err := e.d.Orchestrator.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("orchestrator state: %w", err)
	}
	o.snapshot = Snapshot{Time: now, State: st, Metrics: make(map[string][]Sample, len(cfg.Apps))}
	s := &o.snapshot
	o.snap = s
	var lists, last = []poolListing(nil), map[string][]cluster.Machine(nil)
	if feed {
		lists, last = e.scratch.lists[:0], e.scratch.machines
	}
	for _, p := range cfg.Pools {
		var ms []cluster.Machine
		err := e.providerCall(p.Name, "list", func() (err error) {
			ms, err = e.d.Providers[p.Name].List(ctx)
			return err
		})
		if err != nil {
			s.ProviderErr = setIn(s.ProviderErr, p.Name, err.Error())
			continue
		}
		lists = append(lists, poolListing{p.Name, ms})
	}
	s.Machines = listingMap(last, lists)
	if feed {
		e.scratch.lists, e.scratch.machines = lists, s.Machines
	}
	s.Apps = e.apps(cfg, st)
	if alerts != nil {
		s.Alerts = map[string][]policy.Firing{}
		for _, a := range s.Apps {
			if a.HasAlerts() {
				s.Alerts[a.Name] = alerts.Firing(a.Name)
			}
		}
	}
	var running map[string]int
	if feed {
		e.scratch.running = reuse(e.scratch.running, len(s.Apps))
		running = e.scratch.running
	} else {
		running = make(map[string]int, len(s.Apps))
	}
	// A state lists a service's tasks together: each run of a service is
	// counted, then added to the map once.
	svc, k := "", 0
	for i := range st.Tasks {
		t := &st.Tasks[i]
		if t.State != cluster.TaskRunning {
			continue
		}
		if t.Service != svc {
			if k > 0 {
				running[svc] += k
			}
			svc, k = t.Service, 0
		}
		k++
	}
	if k > 0 {
		running[svc] += k
	}
	if e.d.Guard != nil && feed {
		e.d.Guard.Observe(ctx, now, s.Apps, running, cfg.Interval())
	}
	// Every app's samples are cut from one allocation (capacity = length).
	nPolicies := 0
	for _, a := range s.Apps {
		nPolicies += len(a.Policies)
	}
	sampleBuf := make([]Sample, nPolicies)
	for _, a := range s.Apps {
		var samples []Sample
		samples, sampleBuf = sampleBuf[:len(a.Policies):len(a.Policies)], sampleBuf[len(a.Policies):]
		for i, p := range a.Policies {
			if p.Type == config.PolicyPredictive {
				var obs policy.Observation
				samples[i], obs = e.observePredictive(ctx, a.Name, cfg.Interval())
				s.Observed = setIn(s.Observed, a.Name, obs)
				continue
			}
			if p.Type != config.PolicyTarget && p.Type != config.PolicyThreshold {
				continue
			}
			if running[a.Name] == 0 && p.Query == "" {
				samples[i] = Sample{Err: "no running replica"}
				continue
			}
			win := p.Window.D()
			if win == 0 {
				win = cfg.Interval()
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
		// throttle holds too: scale-ups wait while a limit is on the app's tasks.
		if e.d.Guard != nil && (a.OnAnomaly == config.OnAnomalyHold || a.OnAnomaly == config.OnAnomalyThrottle) {
			if held, why := e.d.Guard.HoldScaleUp(a.Name, now); held {
				s.AnomalyHold = setIn(s.AnomalyHold, a.Name, why)
			}
		}
	}
	return o, nil
}

// complete adds the machine records to an observation's snapshot. Called with
// the lock held, right before the decision, so the records are the ones the
// decision acts on. A record that changed while the observation ran (a
// background operation finished, an operator asked for machines) is newer
// than what the providers showed, so it counts as busy this tick: counted,
// never moved. tick records the provider hold events (dry runs record none).
func (e *Engine) complete(o *observation, tick bool) *Snapshot {
	s := o.snap
	s.Records = e.recordCopies()
	for _, r := range e.records {
		if m, ok := o.before[r.Name]; !ok || m != markOf(r) {
			s.Busy = setIn(s.Busy, r.Name, true)
		}
	}
	for k := range e.busy {
		s.Busy = setIn(s.Busy, k, true)
	}
	s.Requests = e.requests // shared: replaced on a change, never written
	// Shared, not copied: the engine replaces its map when it orders
	// machines and never writes the one a snapshot holds (see order).
	s.Ordered = e.ordered
	// An app that left while the observation ran (deleted through the API, or
	// gone from a reloaded descriptor) is not acted on: whoever removed it
	// takes this lock afterwards (the API's delete calls Last) and may remove
	// its service, which a deploy now would bring back. Without extra or
	// derived apps, s.Apps is the descriptor's that observe read: while it is
	// still the engine's (SetConfig swaps it, never changes it in place),
	// none left, and the names need no set.
	if e.d.ExtraApps != nil || e.d.Derive != nil || e.cfg != o.cfg {
		still := e.appNames(e.cfg, s.State)
		if slices.ContainsFunc(s.Apps, func(a config.App) bool { return !still[a.Name] }) {
			// s.Apps may be the descriptor's own slice (see apps): delete from a copy.
			s.Apps = slices.Clone(s.Apps)
		}
		s.Apps = slices.DeleteFunc(s.Apps, func(a config.App) bool {
			if still[a.Name] {
				return false
			}
			delete(s.Metrics, a.Name)
			delete(s.AnomalyHold, a.Name)
			delete(s.Alerts, a.Name)
			return true
		})
	}
	if tick {
		for _, p := range o.cfg.Pools {
			if perr, bad := s.ProviderErr[p.Name]; bad {
				e.holdEvent("provider:"+p.Name, events.Event{Kind: events.PoolHold, Pool: p.Name,
					Reason: "provider list failed, no machine change this tick: " + perr}, "list-error")
			} else {
				e.clearHold("provider:" + p.Name)
			}
		}
	}
	return s
}

// recordCopies returns copies of the machine records for a snapshot (nil
// when there are none). Snapshots only read them (the decision copies them
// again to move their phases), so while every record is as the last
// snapshot's copy of it, that copy is shared instead of made again: the
// records change a few times an hour, the loop ticks every few seconds.
// Called with mu held.
func (e *Engine) recordCopies() []cluster.MachineRecord {
	if len(e.records) == 0 {
		e.recCopies = nil
		return nil
	}
	if len(e.recCopies) == len(e.records) && !slices.ContainsFunc(e.recCopies, func(c cluster.MachineRecord) bool {
		r, ok := e.records[c.Name]
		return !ok || !sameRecord(&c, r)
	}) {
		return e.recCopies
	}
	out := make([]cluster.MachineRecord, 0, len(e.records))
	for _, r := range e.records {
		// As r.Clone(), but the history is shared, capacity at its length:
		// the engine only ever appends to a record's history, which never
		// writes within what the snapshot sees, and an append to the
		// snapshot's copies copies it away.
		c := *r
		c.History = nil
		if len(r.History) > 0 {
			c.History = slices.Clip(r.History)
		}
		out = append(out, c)
	}
	e.recCopies = out
	return out
}

// sameRecord reports whether c is a copy of r as recordCopies makes it:
// every field equal, the history the same one (same start, same length:
// it is only appended to). Times compare with ==, not Equal: a copy has
// the same wall clock, monotonic reading and location, and anything else
// is a change to copy (TestSameRecordSeesEveryField holds the fields).
func sameRecord(c, r *cluster.MachineRecord) bool {
	return c.Name == r.Name && c.Pool == r.Pool && c.Phase == r.Phase && c.NodeID == r.NodeID &&
		c.OrderedAt == r.OrderedAt && c.Since == r.Since && c.Attempts == r.Attempts &&
		c.NextTry == r.NextTry && c.LastErr == r.LastErr && c.Cancel == r.Cancel &&
		len(c.History) == len(r.History) && (len(r.History) == 0 || &c.History[0] == &r.History[0])
}

// appNames is the set of the names e.apps returns, without copying the
// descriptor's apps (a config.App is large; this runs every tick).
func (e *Engine) appNames(cfg *config.Config, st cluster.State) map[string]bool {
	if e.d.ExtraApps != nil || e.d.Derive != nil {
		apps := e.apps(cfg, st)
		names := make(map[string]bool, len(apps))
		for _, a := range apps {
			names[a.Name] = true
		}
		return names
	}
	// Called with mu held by complete, which is done with the set before
	// it lets go of mu.
	e.scratch.names = reuse(e.scratch.names, len(cfg.Apps))
	names := e.scratch.names
	for i := range cfg.Apps {
		names[cfg.Apps[i].Name] = true
	}
	return names
}

// apps returns the descriptor's apps followed by the extra ones, then the
// derived ones; a name seen first wins over a later app of the same name.
func (e *Engine) apps(cfg *config.Config, st cluster.State) []config.App {
	if e.d.ExtraApps == nil && e.d.Derive == nil {
		// The descriptor's own slice, capacity at its length (an append
		// copies it away): a descriptor is never changed in place (SetConfig
		// swaps it), and a config.App is large to copy every tick.
		return cfg.Apps[:len(cfg.Apps):len(cfg.Apps)]
	}
	out := append([]config.App(nil), cfg.Apps...)
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
		add(e.d.Derive(cfg, out))
	}
	return out
}
