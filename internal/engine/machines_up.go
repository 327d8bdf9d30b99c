package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hoist/hoist/internal/capacity"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
)

// poolWork is one pool's machine decision in the making: the counts, then
// the scale-up (this file), then the scale-in (machines_down.go).
type poolWork struct {
	cfg  *config.Config
	pool *config.Pool
	s    *Snapshot
	ix   *index
	m    *memory

	d     PoolDecision
	acts  []MachineAction
	shape cluster.Resources // one machine of the pool
	// exists counts the machines that may exist at the provider (max
	// applies to them); reclaimable the selected or draining ones whose node
	// can take tasks again.
	exists      int
	reclaimable []*cluster.MachineRecord
	// waiting counts the tasks that exist and wait for room; items are all
	// that need room, the forecast's (predictive policies) included.
	waiting int
	items   []cluster.Resources
}

// decidePool decides one pool's machines: more when tasks need room or the
// pool is below min, else fewer when nodes stayed unneeded.
func decidePool(cfg *config.Config, pool *config.Pool, s *Snapshot, ix *index, m *memory) (PoolDecision, []MachineAction) {
	w := &poolWork{cfg: cfg, pool: pool, s: s, ix: ix, m: m,
		d:     PoolDecision{Pool: pool.Name, Min: pool.Min, Max: pool.Max},
		shape: cluster.Resources{MilliCPU: cluster.CPUs(pool.Machine.CPUs), Memory: int64(pool.Machine.Memory)},
	}
	w.count()
	if w.scaleUp() {
		return w.d, w.acts
	}
	w.scaleIn()
	return w.d, w.acts
}

// count sorts the pool's machine records by phase.
func (w *poolWork) count() {
	d := &w.d
	for _, r := range w.ix.sortedRecords() {
		if r.Pool != w.pool.Name {
			continue
		}
		switch {
		case r.Phase == cluster.PhaseReady:
			d.Ready++
		case r.Phase == cluster.PhaseOrdered || r.Phase == cluster.PhaseBooting:
			d.InFlight++
		case (r.Phase == cluster.PhaseSelected || r.Phase == cluster.PhaseDraining) && !r.Cancel,
			r.Phase == cluster.PhaseDrained:
			// A drained node is still there until it is removed: taking it
			// back beats removing it and ordering another.
			if n := w.ix.nodes[r.NodeID]; n != nil && n.Ready {
				w.reclaimable = append(w.reclaimable, r)
			}
		}
		if r.Phase.Counts() {
			d.Active++
		} else if r.Phase.Exists() {
			d.Leaving++
		}
		if r.Phase.Exists() {
			w.exists++
		}
	}
}

// needRoom lists the tasks that need room in this pool: pending for
// resources, plus those this tick's scale-ups are about to create (so
// machines come in one step), with the app of each.
func (w *poolWork) needRoom() (items []cluster.Resources, itemApps []string) {
	for _, v := range w.ix.byName {
		if v.pool != w.pool.Name {
			continue
		}
		name := v.app.Name
		live := 0
		for _, t := range v.tasks {
			live++
			if t.State == cluster.TaskPending && (t.Reason == "" || t.PendingForResources()) && !t.Reservation.IsZero() {
				items = append(items, t.Reservation)
				itemApps = append(itemApps, name)
				w.waiting++
			}
		}
		want := 0
		if ad := v.d; ad.Action == ActScale || ad.Action == ActDeploy {
			want = ad.Desired
		} else if v.svc != nil {
			want = v.svc.Desired
		}
		res := reservation(v.app, v.svc)
		if res.IsZero() {
			continue // Swarm places such tasks anywhere; no machine can help.
		}
		for i := live; i < want; i++ {
			items = append(items, res)
			itemApps = append(itemApps, name)
		}
	}
	return items, itemApps
}

// bins is the room the pool has (poolBins).
func (w *poolWork) bins() []capacity.Bin { return poolBins(w.ix, w.pool.Name, w.shape) }

// poolBins is the room a pool has: its schedulable nodes in service, and the
// machines ordered or booting, a whole machine of shape each less what is
// already placed on them. A node whose machine is still ordered or booting
// (its node ready before the provider lists it) is counted once, as that
// machine. Called after the lifecycle step.
func poolBins(ix *index, pool string, shape cluster.Resources) []capacity.Bin {
	var bins []capacity.Bin
	for _, n := range ix.sortedNodes() {
		if n.Pool != pool || !n.Schedulable() {
			continue
		}
		if r := recordOfNode(ix, n); r != nil && (!r.Phase.Counts() || onTheWay(r)) {
			continue // leaving, or counted below as a whole machine
		}
		bins = append(bins, capacity.Bin{ID: n.ID, Free: n.Capacity.Sub(ix.reserved[n.ID])})
	}
	for _, r := range ix.sortedRecords() {
		if r.Pool == pool && onTheWay(r) {
			free := shape
			if r.NodeID != "" {
				free = free.Sub(ix.reserved[r.NodeID])
			}
			bins = append(bins, capacity.Bin{ID: "machine:" + r.Name, Free: free})
		}
	}
	return bins
}

// onTheWay: the machine is ordered or booting.
func onTheWay(r *cluster.MachineRecord) bool {
	return r.Phase == cluster.PhaseOrdered || r.Phase == cluster.PhaseBooting
}

// scaleUp decides the machines to add (or to take back from scale-in). It
// reports whether the decision is made; false leaves the pool to scaleIn.
func (w *poolWork) scaleUp() bool {
	d, pool, s, ix := &w.d, w.pool, w.s, w.ix
	items, itemApps := w.needRoom()
	d.NeedRoom = len(items)
	// Room the forecast will need within the boot time: ordered now, as
	// for tasks that wait (predict.go).
	ahead, aheadApps := aheadItems(pool.Name, s, ix)
	items, itemApps = append(items, ahead...), append(itemApps, aheadApps...)
	w.items = items
	// With nothing to place (most ticks) Pack places nothing and opens no
	// machine: the pool's room is not worked out.
	var bins []capacity.Bin
	var res capacity.Result
	if len(items) > 0 {
		bins = w.bins()
		res = capacity.Pack(w.shape, bins, items)
	}
	unfitSet := map[string]bool{}
	for _, i := range res.Unfit {
		unfitSet[itemApps[i]] = true
	}
	for a := range unfitSet {
		d.Unfit = append(d.Unfit, a)
	}
	sort.Strings(d.Unfit)
	need := res.NewMachines
	// Draining machines are cheaper than new ones: take them back first.
	if need > 0 && len(w.reclaimable) > 0 {
		more := append([]capacity.Bin(nil), bins...)
		for _, r := range w.reclaimable {
			n := ix.nodes[r.NodeID]
			// A drain moves tasks make before break: those still on the node
			// would stay if it is taken back, and their replacements, waiting
			// for room, are among the items. So their room counts as free.
			free := n.Capacity.Sub(ix.reserved[n.ID])
			for _, t := range ix.onNode[n.ID] {
				if !t.Global {
					free = free.Add(t.Reservation)
				}
			}
			more = append(more, capacity.Bin{ID: "reclaim:" + r.Name, Free: free})
		}
		res2 := capacity.Pack(w.shape, more, items)
		used := map[string]bool{}
		for _, b := range res2.Placed {
			if strings.HasPrefix(b, "reclaim:") {
				used[strings.TrimPrefix(b, "reclaim:")] = true
			}
		}
		for _, r := range w.reclaimable {
			if used[r.Name] {
				d.Reclaim = append(d.Reclaim, r.Name)
				w.acts = append(w.acts, MachineAction{Machine: r.Name, Pool: pool.Name, Node: r.NodeID, From: r.Phase, To: cluster.PhaseReady, Action: MActActivate, Reason: "scale-in cancelled: its room is needed"})
				r.Phase = cluster.PhaseReady
				d.Active++
				d.Leaving--
			}
		}
		need = res2.NewMachines
	}
	why := ""
	if need > 0 {
		why = ix.scratch.reasons.room.get(roomWhy{len(items) - len(res.Unfit), need, w.shape, len(ahead)}, func(k roomWhy) string {
			why := fmt.Sprintf("%s; %s of %s hold them", needRoom(k.items), count(k.need, "machine"), k.shape)
			if k.ahead > 0 {
				why += fmt.Sprintf(" (%d of the tasks are the forecast's, within the boot time)", k.ahead)
			}
			return why
		})
	}
	if d.Active+need < pool.Min {
		need = pool.Min - d.Active
		why = fmt.Sprintf("below min %d", pool.Min)
	}
	manualUp := manualScaleUp(d, s, pool.Name, &need, &why)
	if len(d.Unfit) > 0 {
		why = strings.TrimPrefix(why+fmt.Sprintf("; tasks of %s fit no machine of %s", strings.Join(d.Unfit, ", "), w.shape), "; ")
	}
	if need > 0 {
		if perr, bad := s.ProviderErr[pool.Name]; bad {
			d.Action, d.HoldKind = ActHold, HoldProvider
			d.Reason = fmt.Sprintf("wanted %s, held: provider unavailable: %s", count(need, "machine"), perr)
			return true
		}
		allowed := pool.Max - w.exists
		if allowed <= 0 {
			d.Action, d.HoldKind = ActHold, HoldMax
			d.Reason = ix.scratch.reasons.heldMax.get(heldMax{need, w.exists, pool.Max, why}, func(k heldMax) string {
				return fmt.Sprintf("wanted %s, held: %d of max %d exist (%s)", count(k.need, "machine"), k.exists, k.max, k.why)
			})
			return true
		}
		d.Create = min(need, allowed)
		d.ManualDone = d.ManualDone || (manualUp && d.Create == need)
		d.Action, d.Reason = ActScale, why
		if d.Create < need {
			d.Reason += fmt.Sprintf("; capped at max %d (wanted %d)", pool.Max, need)
		}
		w.m.lastPoolUp[pool.Name] = s.Time
		resetUnneeded(w.m, ix, pool.Name)
		return true
	}
	if len(d.Reclaim) > 0 {
		d.Action, d.Reason = ActScale, fmt.Sprintf("returned %s to service", strings.Join(d.Reclaim, ", "))
		resetUnneeded(w.m, ix, pool.Name)
		return true
	}
	if len(d.Unfit) > 0 {
		d.Action, d.HoldKind, d.Reason = ActHold, HoldUnfit, why
	}
	return false
}

// poolFor is the pool that should grow for an app: the first of its pools that
// still has room below max, else its first pool.
func poolFor(cfg *config.Config, app *config.App, ix *index) string {
	for _, name := range app.Pools {
		p, ok := cfg.Pool(name)
		if !ok {
			continue
		}
		if ix.exists[name] < p.Max {
			return name
		}
	}
	if len(app.Pools) > 0 {
		return app.Pools[0]
	}
	return ""
}

// reservation returns what one task of app reserves, from its service (or
// from the descriptor before the service exists).
func reservation(app *config.App, svc *cluster.Service) cluster.Resources {
	if svc != nil {
		return svc.Reservation
	}
	return cluster.Resources{MilliCPU: cluster.CPUs(app.Resources.Reservations.CPUs), Memory: int64(app.Resources.Reservations.Memory)}
}

// roomWhy is what a scale-up's reason says: the tasks that need room, the
// machines of shape that hold them, and how many tasks are the forecast's.
type roomWhy struct {
	items, need int
	shape       cluster.Resources
	ahead       int
}

// heldMax is what a scale-up held at the pool's max says.
type heldMax struct {
	need, exists, max int
	why               string
}
