package engine

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/policy"
)

// maxAttempts is how often a machine operation is tried before the machine is
// declared failed (create) or the error keeps being reported (drain, destroy:
// these are retried for as long as it takes, since giving up would orphan it).
const maxAttempts = 5

// backoff is the wait before retry n (1-based): 10s, 20s, 40s ... up to 5m.
func backoff(n int) time.Duration {
	d := 10 * time.Second << min(n-1, 5)
	return min(d, 5*time.Minute)
}

// act carries out a plan: machine lifecycle steps, replica changes, then
// machine orders. Each step is recorded as an event; a failed step leaves
// the records consistent and is retried on a later tick.
func (e *Engine) act(ctx context.Context, cfg *config.Config, s *Snapshot, p *Plan) {
	dry := cfg.Controller.DryRun
	for _, a := range p.Machines {
		e.machineStep(ctx, a, p.Time, dry)
	}
	for i := range p.Apps {
		e.appStep(ctx, &p.Apps[i], s, p.Time, dry)
	}
	e.actPrune(ctx, p, dry)
	for i := range p.Pools {
		d := &p.Pools[i]
		base := events.Event{Time: p.Time, Pool: d.Pool, DryRun: dry}
		for _, app := range d.Unfit {
			ev := base
			ev.Kind, ev.App = events.TaskUnschedulable, app
			ev.Reason = "a task of " + app + " fits no machine of pool " + d.Pool + ": no machine ordered"
			e.holdEvent("unfit:"+app, ev, string(HoldUnfit))
		}
		switch {
		case d.Create > 0:
			e.clearHold("pool:" + d.Pool)
			ev := base
			ev.Kind, ev.From, ev.To, ev.Reason = events.PoolScaleUp, d.Active, d.Active+d.Create, d.Reason
			ev.Inputs = map[string]float64{"need_room": float64(d.NeedRoom), "create": float64(d.Create), "inflight": float64(d.InFlight)}
			e.d.Events.Record(ev)
			if !dry {
				e.order(ctx, d.Pool, d.Create, p.Time)
			}
		case len(d.Remove) > 0:
			e.clearHold("pool:" + d.Pool)
			ev := base
			ev.Kind, ev.From, ev.To, ev.Reason = events.PoolScaleDown, d.Active, d.Active-len(d.Remove), d.Reason
			e.d.Events.Record(ev)
		case d.Action == ActHold:
			ev := base
			ev.Kind, ev.Reason = events.PoolHold, d.Reason
			e.holdEvent("pool:"+d.Pool, ev, string(d.HoldKind))
		default:
			e.clearHold("pool:" + d.Pool)
		}
		if d.ManualDone && d.Manual != nil {
			// An order the store refused leaves the request for the next tick.
			if active, _ := e.poolCounts(d.Pool); dry || active >= d.Manual.Target || d.Create == 0 {
				e.forgetRequest(ctx, d.Pool, d.Manual.Seq)
			}
		}
	}
}

func (e *Engine) appStep(ctx context.Context, d *AppDecision, s *Snapshot, now time.Time, dry bool) {
	e.recordNotice(d, now, dry)
	if d.Action != ActDeploy && d.Action != ActScale && d.Action != ActHold {
		// Nothing to record: no event, so no inputs to build (most apps, most ticks).
		e.clearHold("app:" + d.App)
		return
	}
	base := events.Event{Time: now, App: d.App, From: d.Current, To: d.Desired, Reason: d.Reason, DryRun: dry}
	base.Inputs = map[string]float64{"running": float64(d.Running), "pending": float64(d.Pending), "min": float64(d.Min), "max": float64(d.Max)}
	for _, v := range d.Votes {
		if v.HasValue {
			base.Inputs[config.PolicyLabel(v.Policy, v.Name)+"."+v.Metric] = v.Value
		}
	}
	switch d.Action {
	case ActDeploy:
		app := findApp(s.Apps, d.App)
		ev := base
		ev.Kind = events.AppDeployed
		if !dry {
			if err := e.d.Orchestrator.Deploy(ctx, *app, d.Desired); err != nil {
				ev.Kind, ev.Reason = events.EngineError, "deploy failed, will retry: "+err.Error()
				e.holdEvent("app:"+d.App, ev, "deploy-error:"+err.Error())
				return
			}
		}
		e.clearHold("app:" + d.App)
		e.d.Events.Record(ev)
	case ActScale:
		ev := base
		ev.Kind = events.AppScale
		if !dry {
			if err := e.d.Orchestrator.Scale(ctx, d.App, d.Desired); err != nil {
				ev.Kind, ev.Reason = events.EngineError, fmt.Sprintf("scale %d -> %d failed, will retry: %v", d.Current, d.Desired, err)
				e.holdEvent("app:"+d.App, ev, "scale-error")
				return
			}
			am := e.mem.app(d.App, len(findApp(s.Apps, d.App).Policies))
			am.changes = append(am.changes, policy.Change{Time: now, Delta: d.Desired - d.Current})
			if len(am.changes) > 64 {
				am.changes = am.changes[len(am.changes)-64:]
			}
			if d.Desired > d.Current {
				am.lastUp = now
			}
			am.lastMove = now
		}
		e.clearHold("app:" + d.App)
		e.d.Events.Record(ev)
	case ActHold:
		ev := base
		ev.Kind = events.AppHold
		e.holdEvent("app:"+d.App, ev, string(d.HoldKind))
	default:
		e.clearHold("app:" + d.App)
	}
}

// machineStep applies one lifecycle step: persist the observation, or make the
// call and persist its outcome.
func (e *Engine) machineStep(ctx context.Context, a MachineAction, now time.Time, dry bool) {
	ev := events.Event{Time: now, Pool: a.Pool, Machine: a.Machine, Node: a.Node, Reason: a.Reason}
	switch a.Action {
	case MActNodeIDSet:
		if r := e.records[a.Machine]; r != nil {
			r.NodeID = a.Node
			e.persist(ctx, r)
		}
		return
	case MActAdopt:
		r := &cluster.MachineRecord{Name: a.Machine, Pool: a.Pool, NodeID: a.Node, OrderedAt: now}
		r.SetPhase(a.To, now, "adopted: "+a.Reason)
		e.records[a.Machine] = r
		e.persist(ctx, r)
		ev.Kind = events.MachineAdopted
		ev.Reason = fmt.Sprintf("adopted as %s: %s", a.To, a.Reason)
		e.d.Events.Record(ev)
		return
	}
	r := e.records[a.Machine]
	if r == nil {
		return
	}
	if a.Action == MActObserve {
		e.setPhase(ctx, r, a.To, now, a.Reason)
		return
	}
	if dry {
		ev.Kind, ev.DryRun = phaseKind(a.To), true
		ev.Reason = "would " + string(a.Action) + ": " + a.Reason
		e.holdEvent("machine:"+a.Machine, ev, string(a.Action))
		return
	}
	switch a.Action {
	case MActSelect:
		e.setPhase(ctx, r, cluster.PhaseSelected, now, a.Reason)
		e.run(ctx, r, now, func(ctx context.Context) error { return e.d.Orchestrator.Drain(ctx, r.NodeID) }, cluster.PhaseDraining, "drain issued")
	case MActDrain:
		e.run(ctx, r, now, func(ctx context.Context) error { return e.d.Orchestrator.Drain(ctx, r.NodeID) }, cluster.PhaseDraining, "drain issued")
	case MActActivate:
		r.Cancel = false
		e.run(ctx, r, now, func(ctx context.Context) error { return e.d.Orchestrator.Activate(ctx, r.NodeID) }, cluster.PhaseReady, a.Reason)
	case MActRemove:
		node := r.NodeID
		e.run(ctx, r, now, func(ctx context.Context) error { return e.d.Orchestrator.RemoveNode(ctx, node) }, cluster.PhaseRemoved, "node removed from the cluster")
	case MActDestroy:
		name, node, prov := r.Name, r.NodeID, e.d.Providers[r.Pool]
		failed := r.Phase == cluster.PhaseFailed
		e.run(ctx, r, now, func(ctx context.Context) error {
			if err := e.providerCall(r.Pool, "destroy", func() error { return prov.Destroy(ctx, name) }); err != nil {
				return err
			}
			if failed && node != "" {
				// A failed machine may have left its node behind.
				return e.d.Orchestrator.RemoveNode(ctx, node)
			}
			return nil
		}, cluster.PhaseDestroyed, "destroyed")
	case MActCreate:
		e.runCreate(ctx, r, now)
	}
}

// order records n new machines for pool, then asks the provider for them. The
// record comes first: if hoist dies after it, the restart sees an ordered
// machine and asks again under the same name, which the provider answers
// without making a second one.
func (e *Engine) order(ctx context.Context, pool string, n int, now time.Time) {
	for i := 0; i < n; i++ {
		name := e.newName(pool, now)
		r := &cluster.MachineRecord{Name: name, Pool: pool, OrderedAt: now}
		r.SetPhase(cluster.PhaseOrdered, now, "ordered")
		if err := e.d.Store.PutMachine(ctx, r.Clone()); err != nil {
			e.d.Events.Record(events.Event{Time: now, Kind: events.EngineError, Pool: pool,
				Reason: "could not record the order, nothing ordered: " + err.Error()})
			return
		}
		e.records[name] = r
		e.d.Events.Record(events.Event{Time: now, Kind: events.MachineOrdered, Pool: pool, Machine: name, Reason: "ordered"})
		e.runCreate(ctx, r, now)
	}
	e.ordered = withKey(e.ordered, pool, now) // snapshots share the map (see complete)
}

func (e *Engine) runCreate(ctx context.Context, r *cluster.MachineRecord, now time.Time) {
	prov, name, pool := e.d.Providers[r.Pool], r.Name, r.Pool
	e.run(ctx, r, now, func(ctx context.Context) error {
		return e.providerCall(pool, "create", func() error {
			_, err := prov.Create(ctx, name)
			return err
		})
	}, cluster.PhaseBooting, "created by the provider")
}

// newName gives a machine a name unique in this hoist: pool, time, counter.
func (e *Engine) newName(pool string, now time.Time) string {
	for {
		e.seq++
		name := pool + "-" + strconv.FormatInt(now.Unix(), 36) + strconv.Itoa(e.seq%100)
		if _, taken := e.records[name]; !taken {
			return name
		}
	}
}

// run performs a machine operation, inline or in the background, and moves the
// record to to on success; on failure it counts the attempt and sets a backoff.
func (e *Engine) run(ctx context.Context, r *cluster.MachineRecord, now time.Time, op func(context.Context) error, to cluster.Phase, okReason string) {
	finish := func(err error) {
		if err == nil {
			e.setPhase(ctx, r, to, e.d.Clock.Now(), okReason)
			return
		}
		r.Attempts++
		r.LastErr = err.Error()
		r.NextTry = e.d.Clock.Now().Add(backoff(r.Attempts))
		ev := events.Event{Time: e.d.Clock.Now(), Kind: events.MachineFailed, Pool: r.Pool, Machine: r.Name, Node: r.NodeID,
			Reason: fmt.Sprintf("%s -> %s failed (attempt %d): %v; retry in %s", r.Phase, to, r.Attempts, err, backoff(r.Attempts))}
		if r.Phase == cluster.PhaseOrdered && r.Attempts >= maxAttempts {
			e.d.Events.Record(ev)
			e.setPhase(ctx, r, cluster.PhaseFailed, e.d.Clock.Now(), fmt.Sprintf("create failed %d times: %v", r.Attempts, err))
			return
		}
		e.persist(ctx, r)
		e.d.Events.Record(ev)
	}
	if !e.d.Async {
		finish(op(ctx))
		return
	}
	e.busy[r.Name] = true
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		err := op(ctx)
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.busy, r.Name)
		e.gen++
		finish(err)
	}()
}

func (e *Engine) setPhase(ctx context.Context, r *cluster.MachineRecord, to cluster.Phase, now time.Time, reason string) {
	if r.Phase == to {
		return
	}
	from := r.Phase
	r.SetPhase(to, now, reason)
	if to == cluster.PhaseReady {
		r.Cancel = false
	}
	e.persist(ctx, r)
	ev := events.Event{Time: now, Kind: phaseKind(to), Pool: r.Pool, Machine: r.Name, Node: r.NodeID, Reason: reason}
	if to == cluster.PhaseReady && (from == cluster.PhaseSelected || from == cluster.PhaseDraining || from == cluster.PhaseDrained) {
		ev.Kind = events.MachineDrainCancelled
	}
	if to == cluster.PhaseBooting && from == cluster.PhaseOrdered {
		return // "created" is implied by ordered then ready; keep the log readable
	}
	e.d.Events.Record(ev)
}

func (e *Engine) persist(ctx context.Context, r *cluster.MachineRecord) {
	if err := e.d.Store.PutMachine(ctx, r.Clone()); err != nil {
		e.d.Events.Record(events.Event{Time: e.d.Clock.Now(), Kind: events.EngineError, Pool: r.Pool, Machine: r.Name,
			Reason: "could not persist machine record: " + err.Error()})
	}
}

func phaseKind(p cluster.Phase) events.Kind {
	switch p {
	case cluster.PhaseOrdered:
		return events.MachineOrdered
	case cluster.PhaseReady:
		return events.MachineReady
	case cluster.PhaseSelected:
		return events.MachineSelected
	case cluster.PhaseDraining:
		return events.MachineDraining
	case cluster.PhaseDrained:
		return events.MachineDrained
	case cluster.PhaseRemoved:
		return events.MachineRemoved
	case cluster.PhaseDestroyed:
		return events.MachineDestroyed
	case cluster.PhaseFailed:
		return events.MachineFailed
	}
	return events.EngineInfo
}

func findApp(apps []config.App, name string) *config.App {
	for i := range apps {
		if apps[i].Name == name {
			return &apps[i]
		}
	}
	return nil
}
