package engine

import (
	"context"
	"fmt"
	"maps"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/events"
)

// Manual pool changes (API, Occopus-style scaleto, scaleup and scaledown;
// the alert executor's pool steps) are requests: one per pool, numbered,
// stored before they are acknowledged, and the newest replaces any other that
// has not been carried out. A scale-up is ordered at once; what cannot be
// done at once (a scale-in, which waits for booting machines and for room,
// or an order the store refused) is left to the ticks, which carry out the
// request they see in their snapshot and then forget it (decidePool,
// Engine.act). So a request accepted just before a crash is carried out after
// the restart, and an older request never runs after a newer one.

// RequestPoolChange asks for the pool to have target machines, clamped to its
// bounds, and returns the clamped target.
func (e *Engine) RequestPoolChange(ctx context.Context, pool string, target int, reason string) (int, error) {
	r, err := e.requestPool(ctx, pool, func(int) int { return target }, reason)
	return r.Target, err
}

// RequestPoolStep asks for delta more (or fewer) machines than the pool is
// heading to: its pending manual request's target if there is one, else its
// active machines (ordered, booting, ready). Resolving the step against the
// pending target makes +2 then -1 one machine more, whatever the ticks have
// done meanwhile.
func (e *Engine) RequestPoolStep(ctx context.Context, pool string, delta int, reason string) (cluster.PoolRequest, error) {
	return e.requestPool(ctx, pool, func(base int) int { return base + delta }, reason)
}

// PoolRequests returns the manual requests not yet carried out, by pool.
func (e *Engine) PoolRequests() map[string]cluster.PoolRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]cluster.PoolRequest, len(e.requests))
	for k, v := range e.requests {
		out[k] = v
	}
	return out
}

func (e *Engine) requestPool(ctx context.Context, pool string, resolve func(base int) int, reason string) (cluster.PoolRequest, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.cfg.Pool(pool)
	if !ok {
		return cluster.PoolRequest{}, fmt.Errorf("pool %q: %w", pool, ErrUnknownPool)
	}
	// The records and any request a previous run accepted come first: the
	// base of a relative request depends on them.
	if err := e.loadRecords(ctx); err != nil {
		return cluster.PoolRequest{}, err
	}
	active, exists := e.poolCounts(pool)
	base := active
	prev, pending := e.requests[pool]
	if pending {
		base = prev.Target
	}
	asked := resolve(base)
	now := e.d.Clock.Now()
	e.reqSeq++
	req := cluster.PoolRequest{Pool: pool, Seq: e.reqSeq, Target: min(max(asked, p.Min), p.Max), Asked: asked, Reason: reason, Time: now}
	if err := e.d.Store.PutPoolRequest(ctx, req); err != nil {
		return cluster.PoolRequest{}, fmt.Errorf("pool %q: the request could not be stored, nothing changes: %w", pool, err)
	}
	e.setRequest(req)
	e.gen++

	why := fmt.Sprintf("manual: %s (asked %d, bounds %d..%d)", reason, asked, p.Min, p.Max)
	if pending {
		why += fmt.Sprintf("; replaces the request for %d (%s)", prev.Target, prev.Reason)
	}
	ev := events.Event{Time: now, Kind: events.PoolScaleUp, Pool: pool, From: active, To: req.Target, Reason: why}
	switch {
	case req.Target > active:
		if e.cfg.Controller.DryRun {
			ev.DryRun = true
			e.d.Events.Record(ev)
			return req, nil
		}
		e.d.Events.Record(ev)
		// Machines still leaving count against the max until destroyed; the
		// ticks order the rest once they are gone.
		if n := min(req.Target-active, p.Max-exists); n > 0 {
			e.order(ctx, pool, n, now)
		}
		if active, _ = e.poolCounts(pool); active >= req.Target {
			e.forgetRequest(ctx, pool, req.Seq)
		}
	case req.Target < active:
		// Drained by the next ticks, the emptiest ready machines first, once
		// no machine boots and no task waits for room.
		ev.Kind = events.PoolScaleDown
		e.d.Events.Record(ev)
	default:
		ev.Kind = events.PoolHold
		ev.Reason += ": nothing to do"
		e.d.Events.Record(ev)
		e.forgetRequest(ctx, pool, req.Seq)
	}
	return req, nil
}

// poolCounts counts a pool's active machines (ordered, booting, ready) and
// those that may still exist at the provider. Called with mu held.
func (e *Engine) poolCounts(pool string) (active, exists int) {
	for _, r := range e.records {
		if r.Pool != pool {
			continue
		}
		if r.Phase.Counts() {
			active++
		}
		if r.Phase.Exists() {
			exists++
		}
	}
	return active, exists
}

// forgetRequest drops pool's request once carried out, unless a newer one
// replaced it. Called with mu held. If the store cannot forget it, a restart
// sees it again and finds it done or does it again: a request is a target,
// so doing it twice is doing it once.
func (e *Engine) forgetRequest(ctx context.Context, pool string, seq uint64) {
	if r, ok := e.requests[pool]; !ok || r.Seq != seq {
		return
	}
	e.dropRequest(pool)
	if err := e.d.Store.DeletePoolRequest(ctx, pool, seq); err != nil {
		e.d.Events.Record(events.Event{Time: e.d.Clock.Now(), Kind: events.EngineError, Pool: pool,
			Reason: "could not forget the carried-out manual request: " + err.Error()})
	}
}

// setRequest and dropRequest change the pending requests by replacing the
// map, never writing it: snapshots share it (see complete). Called with mu
// held.
func (e *Engine) setRequest(r cluster.PoolRequest) {
	e.requests = withKey(e.requests, r.Pool, r)
}

func (e *Engine) dropRequest(pool string) {
	reqs := maps.Clone(e.requests)
	delete(reqs, pool)
	e.requests = reqs
}

// manualScaleUp adds the operator's pending request to a pool's decision and,
// when it asks for more machines than the pool has and is about to order,
// raises need to it. It reports whether need now comes from the request.
func manualScaleUp(d *PoolDecision, s *Snapshot, pool string, need *int, why *string) bool {
	found, ok := s.Requests[pool]
	if !ok {
		return false
	}
	// A copy on the heap only when there is a request (&found would put
	// every call's on the heap).
	r := new(cluster.PoolRequest)
	*r = found
	d.Manual = r
	if r.Target == d.Active {
		d.ManualDone = true // done, or the pool got there by itself
	}
	if r.Target <= d.Active+*need {
		return false
	}
	*need = r.Target - d.Active
	*why = fmt.Sprintf("operator asked for %s (%s)", count(r.Target, "machine"), r.Reason)
	return true
}

// manualScaleDown is how many machines the operator's pending request asks to
// remove (0: none).
func manualScaleDown(d *PoolDecision) int {
	if d.Manual == nil || d.Manual.Target >= d.Active {
		return 0
	}
	return d.Active - d.Manual.Target
}
