// Package engine is hoist's control loop: observe the cluster, decide replicas
// first and machines second, act, and record every decision with its reason.
// The decision itself (decide.go) is a pure function over a Snapshot; all I/O
// goes through the small interfaces below, so the same engine drives Docker
// Swarm and the simulator.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hoist/hoist/internal/clock"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/policy"
)

// Orchestrator runs apps as services on a cluster of nodes.
//
// Every method is idempotent: the engine may repeat a call after a restart or
// a timeout, and a repeated call must not do the work twice.
type Orchestrator interface {
	// State reports the services, their live tasks (desired state running:
	// pending, starting or running) and every node.
	State(ctx context.Context) (cluster.State, error)
	// Scale sets a service's replica count.
	Scale(ctx context.Context, service string, replicas int) error
	// Deploy creates the service for app with replicas tasks, or updates it.
	Deploy(ctx context.Context, app config.App, replicas int) error
	// Remove deletes a service; removing a missing one is not an error.
	Remove(ctx context.Context, service string) error
	// Drain stops placing tasks on a node and moves its tasks away.
	Drain(ctx context.Context, nodeID string) error
	// Activate returns a drained node to service.
	Activate(ctx context.Context, nodeID string) error
	// RemoveNode takes a node out of the cluster; a missing node is not an error.
	RemoveNode(ctx context.Context, nodeID string) error
}

// Provider makes and destroys the machines of one pool.
//
// The engine names every machine before it asks for it and records the name
// first, so Create must be idempotent by name: creating a name that exists
// returns that machine. That is what makes "never ordered twice" hold across
// crashes. Destroying a machine that does not exist is not an error.
type Provider interface {
	Create(ctx context.Context, name string) (cluster.Machine, error)
	Destroy(ctx context.Context, name string) error
	// List returns the pool's machines as the provider sees them.
	List(ctx context.Context) ([]cluster.Machine, error)
}

// ErrNoData is returned by a MetricSource that has no value for a query. It
// never leads to a scale-down.
var ErrNoData = errors.New("no data")

// MetricQuery asks for one figure about an app.
type MetricQuery struct {
	App string
	// Metric is a built-in metric name (cpu, memory, rps, latency_p95), or
	// Query a PromQL expression.
	Metric string
	Query  string
	// Window is the span the value is averaged over.
	Window time.Duration
}

// MetricSource gives the values policies compare to their targets.
type MetricSource interface {
	// Value returns the figure, or an error wrapping ErrNoData when there is none.
	Value(ctx context.Context, q MetricQuery) (float64, error)
}

// Store keeps machine records and accepted manual pool requests across
// restarts.
type Store interface {
	Machines(ctx context.Context) ([]cluster.MachineRecord, error)
	PutMachine(ctx context.Context, r cluster.MachineRecord) error
	// PoolRequests returns the manual pool requests not yet carried out.
	PoolRequests(ctx context.Context) ([]cluster.PoolRequest, error)
	// PutPoolRequest makes r its pool's request, replacing any other; it
	// returns once r is durable.
	PutPoolRequest(ctx context.Context, r cluster.PoolRequest) error
	// DeletePoolRequest forgets pool's request if it is still number seq.
	DeletePoolRequest(ctx context.Context, pool string, seq uint64) error
}

// Recorder receives events.
type Recorder interface {
	Record(e events.Event) events.Event
}

// Deps are what the engine observes and drives.
type Deps struct {
	Orchestrator Orchestrator
	Providers    map[string]Provider // by pool name
	Metrics      MetricSource
	Clock        clock.Clock
	Store        Store
	Events       Recorder
	Logger       *slog.Logger
	// Async runs slow machine operations (create, drain, destroy) in the
	// background so one slow provider never blocks the loop. The simulator runs
	// them inline to stay deterministic.
	Async bool
	// ExtraApps adds apps that are not in the descriptor (registered through
	// the API, or services that opt in by labels).
	ExtraApps func(cluster.State) []config.App
	// Derive adds apps that follow from the others (descriptor and extra
	// alike): the balancer layer adds one HAProxy app per app that asks for a
	// balancer.
	//
	// ExtraApps and Derive run during observations, outside the engine's
	// lock and possibly beside a dry run's, and again under the lock right
	// before each decision (an app gone since is not acted on): they must be
	// quick, must not call the Engine, and must be safe for concurrent use.
	Derive func(cfg *config.Config, apps []config.App) []config.App
	// Guard may hold an app's scale-up (the anomaly detector does).
	Guard Guard
	// Alerts answers alert policies (the alert executor); nil: they have no
	// data, which never scales down.
	Alerts AlertSource
	// Observers are told about ticks and provider calls from the start.
	Observers []Observer
}

// AlertSource reports the alerts firing for an app: hoist's alert executor,
// fed by Alertmanager. Policies of type alert read it each tick, so bounds,
// cooldowns and events stay with the engine.
type AlertSource interface {
	Firing(app string) []policy.Firing
}

// Observer is told what the loop does (hoist's own /metrics). Calls come from
// the loop (after each tick, outside the engine's lock), from observations
// and from background machine operations: an Observer must be quick and safe
// for concurrent use.
type Observer interface {
	// Ticked follows every tick: its plan and snapshot, or the error that
	// stopped it before a decision (plan and snapshot nil).
	Ticked(p *Plan, s *Snapshot, err error)
	// ProviderCalled follows every provider call (op: list, create, destroy).
	ProviderCalled(pool, op string, took time.Duration, err error)
}

// Guard can veto scale-ups of an app, e.g. while its metrics look anomalous.
type Guard interface {
	// Observe is called once per tick, before the decision, with the apps and
	// their running replicas; window is the tick interval.
	Observe(ctx context.Context, now time.Time, apps []config.App, running map[string]int, window time.Duration)
	// HoldScaleUp reports whether scaling app up must wait, and why.
	HoldScaleUp(app string, now time.Time) (bool, string)
}

// Engine is the control loop. Methods are safe for concurrent use.
//
// Two locks keep the loop's period and the reads independent of slow
// sources: tickMu makes ticks one at a time and is held through a tick's
// observation (metric queries, provider listings, the orchestrator's state);
// mu guards the engine's state and is never held while waiting on those, so
// Config, Last, Machines, CancelDrain and RequestPoolChange answer at once
// whatever a metric source does.
type Engine struct {
	tickMu sync.Mutex

	mu  sync.Mutex
	cfg *config.Config
	d   Deps
	mem *memory
	// ix is the last tick's index, whose maps the next tick reuses;
	// scratch the maps an observation and complete reuse.
	ix      *index
	scratch struct {
		before  map[string]recordMark // the loop's observation's (tickMu)
		running map[string]int        // the loop's observation's (tickMu)
		names   map[string]bool       // appNames' (mu)
		// the loop's observation's (tickMu): the pools' listings, and
		// the last snapshot's map of them (see listingMap)
		lists    []poolListing
		machines map[string][]cluster.Machine
	}
	records map[string]*cluster.MachineRecord
	// recCopies are the records as the last snapshot copied them, shared
	// with it (see recordCopies).
	recCopies []cluster.MachineRecord
	// requests: pool -> the manual request not yet carried out (written
	// through to the store); reqSeq the newest request's number. Snapshots
	// share the map: setRequest and dropRequest replace it.
	requests map[string]cluster.PoolRequest
	reqSeq   uint64
	busy     map[string]bool // machines with a provider call under way
	// holds: subject -> the key of the last hold event (dedupe).
	holds map[string]string
	// ordered: pool -> when machines were last ordered (Snapshot.Ordered).
	// Snapshots share it: it is replaced on a change, never written.
	ordered  map[string]time.Time
	wg       sync.WaitGroup
	last     *Plan
	lastSnap *Snapshot
	loaded   bool
	seq      int
	alerts   AlertSource
	// ticking is true while a tick runs; tickDone, made by the first Plan
	// that waits for the tick (not by every tick), is closed when it ends.
	ticking  bool
	tickDone chan struct{}
	ticks    uint64 // ticks started
	lastTick uint64 // the tick that made last
	// gen counts changes a decision depends on besides the observation
	// (descriptor, machine records, manual requests, a tick's acts): a plan
	// made at another gen may be out of date.
	gen     uint64
	lastGen uint64 // gen after the tick that made last
	// dry is the dry-run observation under way, shared by every Plan caller;
	// dryPlan the last one's result, made at dryGen.
	dry     *dryRun
	dryPlan *Plan
	dryGen  uint64
	// observers is replaced, never changed in place: background operations
	// read it without the lock.
	observers atomic.Pointer[[]Observer]
}

// New makes an engine for cfg.
func New(cfg *config.Config, d Deps) (*Engine, error) {
	if d.Orchestrator == nil || d.Metrics == nil || d.Store == nil || d.Events == nil {
		return nil, errors.New("engine: orchestrator, metrics, store and events are required")
	}
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	for _, p := range cfg.Pools {
		if _, ok := d.Providers[p.Name]; !ok {
			return nil, fmt.Errorf("engine: no provider for pool %q", p.Name)
		}
	}
	e := &Engine{cfg: cfg, d: d, mem: newMemory(), records: map[string]*cluster.MachineRecord{},
		holds: map[string]string{}, ordered: map[string]time.Time{},
		requests: map[string]cluster.PoolRequest{}, busy: map[string]bool{}, alerts: d.Alerts}
	if len(d.Observers) > 0 {
		obs := append([]Observer(nil), d.Observers...)
		e.observers.Store(&obs)
	}
	return e, nil
}

// Config returns the descriptor in use.
func (e *Engine) Config() *config.Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg
}

// SetConfig swaps the descriptor (reload). Pools must keep their providers.
func (e *Engine) SetConfig(cfg *config.Config) error {
	for _, p := range cfg.Pools {
		if _, ok := e.d.Providers[p.Name]; !ok {
			return fmt.Errorf("engine: no provider for pool %q", p.Name)
		}
	}
	e.mu.Lock()
	e.cfg = cfg
	e.gen++
	e.mu.Unlock()
	return nil
}

// Tick runs one observe, decide, act round and returns what it decided.
// Ticks run one at a time; the observation is made without the engine's lock,
// so reads and manual requests go on while a slow metric source answers.
func (e *Engine) Tick(ctx context.Context) (*Plan, error) {
	e.tickMu.Lock()
	defer e.tickMu.Unlock()
	e.mu.Lock()
	e.ticking = true
	e.ticks++
	seq := e.ticks
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.ticking = false
		if e.tickDone != nil {
			close(e.tickDone)
			e.tickDone = nil
		}
		e.mu.Unlock()
	}()
	start := time.Now()
	obs, err := e.observe(ctx, true)
	e.mu.Lock()
	if err != nil {
		// No decision on a partial view: no scale-down on missing data.
		e.holdEvent("engine", events.Event{Kind: events.EngineError, Reason: "observe failed, no decision this tick: " + err.Error()}, "observe")
		e.mu.Unlock()
		e.notifyTick(nil, nil, err)
		return nil, err
	}
	snap := e.complete(obs, true)
	e.clearHold("engine")
	// Ticks are one at a time and a dry run decides on a copy, under mu as
	// this does: nothing else sees the memory while it changes.
	if e.ix == nil {
		e.ix = &index{}
	}
	plan := decideInto(obs.cfg, snap, e.mem, e.ix)
	e.gen++
	e.act(ctx, obs.cfg, snap, plan)
	e.prune(snap.Time)
	plan.Took = time.Since(start)
	e.last, e.lastSnap, e.lastTick, e.lastGen = plan, snap, seq, e.gen
	e.mu.Unlock()
	e.notifyTick(plan, snap, nil)
	return plan, nil
}

// SetAlertSource gives alert policies their source (the alert executor);
// until it is set they have no data, which never scales down. Prefer
// Deps.Alerts: a runtime passes it at construction.
func (e *Engine) SetAlertSource(a AlertSource) {
	e.mu.Lock()
	e.alerts = a
	e.mu.Unlock()
}

// AddObserver adds o to those told about ticks and provider calls. Prefer
// Deps.Observers: a runtime passes them at construction.
func (e *Engine) AddObserver(o Observer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var next []Observer
	if cur := e.observers.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, o)
	e.observers.Store(&next)
}

func (e *Engine) notifyTick(p *Plan, s *Snapshot, err error) {
	if obs := e.observers.Load(); obs != nil {
		for _, o := range *obs {
			o.Ticked(p, s, err)
		}
	}
}

// providerCall runs one provider call and tells the observers how it went.
func (e *Engine) providerCall(pool, op string, call func() error) error {
	start := time.Now()
	err := call()
	if obs := e.observers.Load(); obs != nil {
		took := time.Since(start)
		for _, o := range *obs {
			o.ProviderCalled(pool, op, took, err)
		}
	}
	return err
}

// Record adds an event to the engine's log, stamped with the engine's clock
// when it has no time: for features beside the loop (the alert executor, rule
// files) whose events belong with the loop's.
func (e *Engine) Record(ev events.Event) events.Event {
	if ev.Time.IsZero() {
		ev.Time = e.d.Clock.Now()
	}
	return e.d.Events.Record(ev)
}

// Now is the engine's clock (virtual on the simulator).
func (e *Engine) Now() time.Time { return e.d.Clock.Now() }

// Plan is a dry run: what the loop decides on the cluster as it is, with
// reasons, without acting or changing the engine's memory.
//
// It answers with the most recent decision that is still current: the loop's
// own plan when it is less than one controller interval old and nothing it
// depends on changed since (descriptor, machine records, manual requests),
// since a second decision on the same state would differ only by that tick's
// own acts; the plan of a tick that ends while the caller waits; otherwise a
// decision on a fresh observation. That observation is shared by every
// caller that asks while it runs and never holds the engine's lock, so any
// number of viewers costs at most one observation at a time and never delays
// a tick or a read. Plan.Time says when the plan's observation was made.
func (e *Engine) Plan(ctx context.Context) (*Plan, error) {
	e.mu.Lock()
	for {
		if p := e.currentPlan(); p != nil {
			e.mu.Unlock()
			return p, nil
		}
		if e.ticking {
			// The loop is deciding right now: its plan is the answer.
			if e.tickDone == nil {
				e.tickDone = make(chan struct{})
			}
			done, seq := e.tickDone, e.ticks
			e.mu.Unlock()
			select {
			case <-done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			e.mu.Lock()
			if e.last != nil && e.lastTick == seq {
				p := e.last
				e.mu.Unlock()
				return p, nil
			}
			continue // the tick failed; observe for ourselves
		}
		d := e.dry
		if d == nil {
			d = e.startDryRun()
		}
		d.waiters++
		e.mu.Unlock()
		select {
		case <-d.done:
		case <-ctx.Done():
			e.mu.Lock()
			if d.waiters--; d.waiters == 0 && e.dry == d {
				// Nobody waits for it any more: stop observing.
				e.dry = nil
				d.cancel()
			}
			e.mu.Unlock()
			return nil, ctx.Err()
		}
		if !d.tickCame {
			return d.plan, d.err
		}
		// A tick ran meanwhile: its plan is newer. While it runs, the loop
		// above waits for it; if it failed, observe again.
		e.mu.Lock()
		if !e.ticking && e.last != nil && e.lastTick > d.ticks {
			p := e.last
			e.mu.Unlock()
			return p, nil
		}
	}
}

// currentPlan is the newest plan still current (see Plan), or nil. Called
// with mu held.
func (e *Engine) currentPlan() *Plan {
	maxAge := e.cfg.Interval()
	now := e.d.Clock.Now()
	if p := e.last; p != nil && e.lastGen == e.gen && now.Sub(p.Time) < maxAge {
		return p
	}
	if p := e.dryPlan; p != nil && e.dryGen == e.gen && now.Sub(p.Time) < maxAge {
		return p
	}
	return nil
}

// dryRun is one dry-run observation and decision, shared by its callers.
type dryRun struct {
	done    chan struct{}
	cancel  context.CancelFunc
	waiters int
	// Set before done is closed.
	plan     *Plan
	err      error
	tickCame bool   // a tick began while it observed: callers take the tick's plan
	ticks    uint64 // ticks started when it began
}

// startDryRun starts a dry run in the background. Called with mu held.
func (e *Engine) startDryRun() *dryRun {
	// Not any caller's context: the run is shared, and is cancelled when its
	// last caller leaves.
	ctx, cancel := context.WithCancel(context.Background())
	d := &dryRun{done: make(chan struct{}), cancel: cancel, ticks: e.ticks}
	e.dry = d
	ticks, ticking := e.ticks, e.ticking
	go func() {
		defer cancel()
		obs, err := e.observe(ctx, false)
		e.mu.Lock()
		defer e.mu.Unlock()
		switch {
		case err != nil:
			d.err = err
		case ticking || e.ticking || e.ticks != ticks:
			// A tick acted or is acting on a state this observation may
			// predate; deciding on it with the tick's memory would mix two
			// moments (a scale-up seen as not done yet, under its cooldown).
			d.tickCame = true
		default:
			d.plan, _ = decide(obs.cfg, e.complete(obs, false), e.mem)
			e.dryPlan, e.dryGen = d.plan, e.gen
		}
		if e.dry == d {
			e.dry = nil
		}
		close(d.done)
	}()
	return d
}

// Last returns the last tick's plan and snapshot (nil before the first tick).
// It never waits on an observation, but it does take the lock a tick holds
// from its decision to the end of its acts: once it returns, no tick acts on
// an app that was removed before the call.
func (e *Engine) Last() (*Plan, *Snapshot) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last, e.lastSnap
}

// Wait blocks until background machine operations have finished.
func (e *Engine) Wait() { e.wg.Wait() }

// Machines returns copies of the machine records, sorted by name.
func (e *Engine) Machines() []cluster.MachineRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]cluster.MachineRecord, 0, len(e.records))
	for _, r := range e.records {
		out = append(out, r.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Existing counts, per pool, the machines that may still exist at the provider.
func (e *Engine) Existing() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for _, r := range e.records {
		if r.Phase.Exists() {
			out[r.Pool]++
		}
	}
	return out
}

// ExistingIn counts the machines of pool that may still exist at the
// provider: Existing for one pool, without making a map (the simulator's
// safety check asks after every tick).
func (e *Engine) ExistingIn(pool string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, r := range e.records {
		if r.Pool == pool && r.Phase.Exists() {
			n++
		}
	}
	return n
}

// ErrNotCancellable is returned when a machine is not in a phase that can return to service.
var ErrNotCancellable = errors.New("machine is not selected or draining")

// CancelDrain asks a selected or draining machine to return to service; the
// next tick reactivates its node.
func (e *Engine) CancelDrain(ctx context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.records[name]
	if !ok {
		return fmt.Errorf("machine %q: %w", name, ErrUnknownMachine)
	}
	if r.Phase != cluster.PhaseSelected && r.Phase != cluster.PhaseDraining {
		return fmt.Errorf("machine %q is %s: %w", name, r.Phase, ErrNotCancellable)
	}
	r.Cancel = true
	e.gen++
	return e.d.Store.PutMachine(ctx, r.Clone())
}

// ErrUnknownMachine is returned for a machine hoist has no record of.
var ErrUnknownMachine = errors.New("unknown machine")

// ErrUnknownPool is returned for a pool not in the descriptor.
var ErrUnknownPool = errors.New("unknown pool")

// keepDestroyed is how long a destroyed machine stays in the working set (the
// store keeps its history for good).
const keepDestroyed = time.Hour

// prune drops long-destroyed machines from the working set so the decision
// does not slow down as machines come and go over weeks.
func (e *Engine) prune(now time.Time) {
	for name, r := range e.records {
		if r.Phase == cluster.PhaseDestroyed && now.Sub(r.Since) > keepDestroyed && !e.busy[name] {
			delete(e.records, name)
		}
	}
}

// Reset drops the engine's working state (machine records, manual
// requests, cooldown memory) so the next tick starts from the store and the
// cluster again, as after a restart: hoist run --ha calls it when this
// process becomes the leader, since another one acted meanwhile. Machines
// with a provider call still under way keep their records until it ends.
func (e *Engine) Reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for name := range e.records {
		if !e.busy[name] {
			delete(e.records, name)
		}
	}
	e.requests = map[string]cluster.PoolRequest{}
	e.mem = newMemory()
	e.holds = map[string]string{}
	e.loaded = false
	e.gen++
}

// loadRecords reads the store once, on the first tick: the engine's own map is
// the working copy afterwards, and every change is written through.
func (e *Engine) loadRecords(ctx context.Context) error {
	if e.loaded {
		return nil
	}
	recs, err := e.d.Store.Machines(ctx)
	if err != nil {
		return fmt.Errorf("load machine records: %w", err)
	}
	reqs, err := e.d.Store.PoolRequests(ctx)
	if err != nil {
		return fmt.Errorf("load pool requests: %w", err)
	}
	for i := range recs {
		r := recs[i]
		e.records[r.Name] = &r
	}
	for _, r := range reqs {
		e.setRequest(r)
		e.reqSeq = max(e.reqSeq, r.Seq)
	}
	e.loaded = true
	return nil
}

// clearHold forgets subject's last hold, so the next one is said again.
func (e *Engine) clearHold(subject string) { delete(e.holds, subject) }

// holdEvent records ev once per distinct key for subject, so a condition that
// lasts many ticks is one event, not thousands.
func (e *Engine) holdEvent(subject string, ev events.Event, key string) {
	if e.holds[subject] == key {
		return
	}
	e.holds[subject] = key
	if ev.Time.IsZero() {
		ev.Time = e.d.Clock.Now()
	}
	e.d.Events.Record(ev)
}
