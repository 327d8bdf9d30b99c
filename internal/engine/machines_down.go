package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hoist/hoist/internal/capacity"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
)

// scaleIn decides the machines to remove: replicas go first (the app
// decisions), then nodes that stayed unneeded long enough, or the operator's
// request; never while tasks wait or machines boot.
func (w *poolWork) scaleIn() {
	d, pool, s, ix, m := &w.d, w.pool, w.s, w.ix, w.m
	now := s.Time
	manual := manualScaleDown(d)
	blocked := ""
	switch {
	case pool.ScaleDown.Disabled && manual == 0:
		blocked = "scale-down disabled"
	case d.NeedRoom > 0 && (w.waiting > 0 || !forecasting(pool.Name, ix)):
		// With a forecast, tasks about to be created do not hold scale-in:
		// the limit below keeps room for them and the forecast's.
		blocked = needRoom(d.NeedRoom)
	case d.InFlight > 0:
		blocked = count(d.InFlight, "machine") + " booting"
	case s.ProviderErr[pool.Name] != "":
		blocked = "provider unavailable"
	case now.Sub(m.lastPoolUp[pool.Name]) < pool.Cooldown.D() && !m.lastPoolUp[pool.Name].IsZero() && manual == 0:
		blocked = ix.scratch.reasons.cooldown.get(pool.Cooldown, func(c config.Duration) string {
			return fmt.Sprintf("within %s of a scale-up", c)
		})
	}
	if blocked != "" {
		resetUnneeded(m, ix, pool.Name)
		if d.Action == "" {
			d.Action, d.Reason = ActNone, "no scale-in: "+blocked
		}
		if manual > 0 {
			d.Reason += fmt.Sprintf("; the operator's request for %d waits", d.Manual.Target)
		}
		return
	}
	// The working lists are kept from one decision to the next (see
	// scaleInScratch): capacity's questions below keep none of them. Every
	// node's moving tasks are cut from one buffer.
	sc := &ix.scratch.down
	sc.moving = resize(sc.moving, ix.placed)
	movingBuf := sc.moving
	nodes, cands := sc.nodes[:0], sc.cands[:0]
	for _, n := range ix.sortedNodes() {
		if n.Pool != pool.Name || !n.Schedulable() {
			continue
		}
		var moving []cluster.Resources
		if on := ix.onNode[n.ID]; len(on) > 0 {
			moving, movingBuf = movingBuf[:0:len(on)], movingBuf[len(on):]
		}
		for _, t := range ix.onNode[n.ID] {
			if !t.Global {
				moving = append(moving, t.Reservation)
			}
		}
		nodes = append(nodes, capacity.Node{ID: n.ID, Capacity: n.Capacity, Tasks: moving, Reserved: ix.reserved[n.ID], Receives: true,
			Ceiling: scaled(n.Capacity, pool.ScaleDown.ConsolidateShare())})
		r := recordOfNode(ix, n)
		if r == nil || r.Phase != cluster.PhaseReady || n.Manager {
			continue // only machines hoist made, in service, and never a manager
		}
		cands = append(cands, scaleInCand{r, ix.reserved[n.ID].Share(n.Capacity)})
	}
	sc.nodes, sc.cands = nodes, cands
	// As sort.SliceStable with less a < b, without its allocations.
	slices.SortStableFunc(cands, func(a, b scaleInCand) int { return lessCmp(a.share, b.share) })
	limit := d.Active - pool.Min
	if forecasting(pool.Name, ix) && manual == 0 {
		// Never below what the tasks and the forecast need within the boot time.
		limit = min(limit, d.Active-keepFor(pool, ix, slices.Concat(w.items, keepItems(pool.Name, ix))))
	}
	// Two ways for a node to be unneeded: below the share (Cluster
	// Autoscaler's rule), its tasks fitting anywhere; or, consolidating, any
	// node whose tasks fit on the others without taking them above the
	// consolidation share (Swarm spreads tasks, so nodes are often all just
	// above the share, and the first rule alone would keep them all).
	consolidate := pool.ScaleDown.ConsolidateShare()
	all, low := sc.all[:0], sc.low[:0]
	sc.capped, sc.recOf = reuse(sc.capped, len(cands)), reuse(sc.recOf, len(cands))
	capped, recOf := sc.capped, sc.recOf
	for _, c := range cands {
		id := c.rec.NodeID
		all = append(all, id)
		recOf[id] = c.rec
		switch {
		case c.share < pool.ScaleDown.Below:
			low = append(low, capacity.Candidate{ID: id})
		case consolidate > 0:
			low = append(low, capacity.Candidate{ID: id, Capped: true})
			capped[id] = true
		}
	}
	sc.all, sc.low = all, low
	var chosen, unneeded []string
	var left time.Duration // until the first unneeded node may go
	reason := ""
	if manual > 0 {
		chosen = capacity.Removable(nodes, all, min(limit, manual))
		d.ManualDone = true
		reason = fmt.Sprintf("operator asked for %s (%s)", count(d.Manual.Target, "machine"), d.Manual.Reason)
		if len(chosen) < manual {
			reason += fmt.Sprintf("; %d of %d can go: the others are at min or their tasks cannot move", len(chosen), manual)
		}
	} else {
		unneeded = sc.removable.RemovableCapped(nodes, low, limit)
		sc.keep = reuse(sc.keep, len(unneeded))
		keep := sc.keep
		var matured []capacity.Candidate
		left = pool.ScaleDown.For.D()
		for _, id := range unneeded {
			keep[id] = true
			since, ok := m.unneeded[id]
			if !ok {
				m.unneeded[id] = now
				since = now
			}
			if now.Sub(since) >= pool.ScaleDown.For.D() {
				matured = append(matured, capacity.Candidate{ID: id, Capped: capped[id]})
			}
			left = min(left, max(0, pool.ScaleDown.For.D()-now.Sub(since)))
		}
		for _, n := range ix.sortedNodes() {
			if n.Pool == pool.Name && !keep[n.ID] {
				delete(m.unneeded, n.ID)
			}
		}
		chosen = sc.removable.RemovableCapped(nodes, matured, limit)
		if len(chosen) > 0 { // only said of the nodes chosen (formatted every tick otherwise)
			reason = fmt.Sprintf("reserved below %.0f%% for %s and its tasks fit elsewhere", pool.ScaleDown.Below*100, pool.ScaleDown.For)
		}
	}
	for _, id := range chosen {
		r := recOf[id]
		delete(m.unneeded, id)
		d.Remove = append(d.Remove, r.Name)
		share := ix.reserved[id].Share(ix.nodes[id].Capacity)
		why := fmt.Sprintf("%s (reserved %.0f%%)", reason, share*100)
		if capped[id] {
			why = fmt.Sprintf("consolidation: unneeded for %s, its tasks (reserved %.0f%%) fit on the other nodes below %.0f%%", pool.ScaleDown.For, share*100, consolidate*100)
		}
		w.acts = append(w.acts, MachineAction{Machine: r.Name, Pool: pool.Name, Node: id, From: cluster.PhaseReady, To: cluster.PhaseDraining, Action: MActSelect, Reason: why})
		r.Phase = cluster.PhaseDraining
	}
	if len(chosen) > 0 {
		d.Action, d.Reason = ActScale, fmt.Sprintf("scale in %s: %s", strings.Join(d.Remove, ", "), reason)
	} else if d.Action == "" {
		// The nodes that could actually go (their tasks fit elsewhere, the
		// pool stays at min), and the time left before the first may: the
		// reason counts down from one tick to the next.
		// One reason formatted, the one that applies (or the same words
		// as last time, see poolReasons).
		d.Action = ActNone
		rs := &ix.scratch.reasons
		switch {
		case limit <= 0:
			d.Reason = rs.atMin.get(pool.Min, func(n int) string { return fmt.Sprintf("at min %d", n) })
		case len(low) == 0:
			d.Reason = "no node below the scale-down share"
		case len(unneeded) == 0:
			d.Reason = rs.noneRemovable.get(len(low), func(n int) string {
				return fmt.Sprintf("%s below the scale-down share, none removable: their tasks would not fit elsewhere", nodesCount(n))
			})
		default:
			d.Reason = rs.removableIn.get(countIn{len(unneeded), left.Round(time.Second)}, func(k countIn) string {
				return fmt.Sprintf("%s unneeded, removable in %s", nodesCount(k.n), k.in)
			})
		}
	}
}

// scaleInCand is a node that scale-in may remove, with its reserved share.
type scaleInCand struct {
	rec   *cluster.MachineRecord
	share float64
}

// scaleInScratch is what scale-in works in, kept by the index from one
// decision to the next instead of made anew each time (nothing in it
// outlives the decision).
type scaleInScratch struct {
	moving       []cluster.Resources
	nodes        []capacity.Node
	cands        []scaleInCand
	all          []string
	low          []capacity.Candidate
	capped, keep map[string]bool
	recOf        map[string]*cluster.MachineRecord
	removable    capacity.Scratch
}

// scaled returns share of r (0: none).
func scaled(r cluster.Resources, share float64) cluster.Resources {
	if share <= 0 {
		return cluster.Resources{}
	}
	return cluster.Resources{MilliCPU: int64(float64(r.MilliCPU) * share), Memory: int64(float64(r.Memory) * share)}
}

func resetUnneeded(m *memory, ix *index, pool string) {
	for id, n := range ix.nodes {
		if n.Pool == pool {
			delete(m.unneeded, id)
		}
	}
}

// nodesCount is "1 node", "3 nodes".
func nodesCount(n int) string {
	if n == 1 {
		return "1 node"
	}
	return fmt.Sprintf("%d nodes", n)
}

// poolReasons keeps the pools' reasons as last formatted, each with what it
// was formatted from: most decisions say what the last one said (the same
// counts of the same pool), and formatting them was a good part of a
// decision's time. A reason is formatted again whenever anything it says
// changed (see reasonMemo).
type poolReasons struct {
	cooldown      reasonMemo[config.Duration]
	atMin         reasonMemo[int]
	noneRemovable reasonMemo[int]
	removableIn   reasonMemo[countIn]
	room          reasonMemo[roomWhy]
	heldMax       reasonMemo[heldMax]
}

// countIn is a count and a time (removable in).
type countIn struct {
	n  int
	in time.Duration
}

// reasonMemo is the string last formatted from key.
type reasonMemo[K comparable] struct {
	ok  bool
	key K
	s   string
}

// get returns format(key): the last string when it was formatted from the
// same key (format must depend on key alone).
func (r *reasonMemo[K]) get(key K, format func(K) string) string {
	if !r.ok || r.key != key {
		r.key, r.s, r.ok = key, format(key), true
	}
	return r.s
}
