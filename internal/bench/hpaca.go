package bench

import (
	"context"
	"math"
	"sort"
	"time"

	"github.com/hoist/hoist/internal/capacity"
	"github.com/hoist/hoist/internal/cluster"
)

func hpaCAPolicy() Policy {
	return Policy{
		Name: "hpa-ca",
		Doc: "Kubernetes HPA (15 s sync, ceil(current x cpu/target), tolerance 0.1, 300 s scale-down stabilisation, " +
			"scale-up max(100 %, 4 pods) per 15 s) with the Cluster Autoscaler (10 s scan, scale-up on pending tasks by bin-packing; " +
			"nodes under 50 % reserved removed after 10 min unneeded, not within 10 min of a scale-up)",
		New: func(env *Env) (Controller, error) {
			f := newFleet(env, "ca")
			return &hpaCA{f: f, hpa: &hpa{f: f, loop: loop{period: HPASync}}, ca: &autoscaler{f: f, loop: loop{period: CAScan}, unneeded: map[string]time.Time{}}}, nil
		},
	}
}

type hpaCA struct {
	f   *fleet
	hpa *hpa
	ca  *autoscaler
}

func (h *hpaCA) Step(ctx context.Context, now time.Time) error {
	hpaDue, caDue := h.hpa.due(now), h.ca.due(now)
	if !hpaDue && !caDue {
		return nil
	}
	v, err := h.f.look(ctx)
	if err != nil {
		return err
	}
	if ok, err := h.f.deployed(ctx, v); !ok || err != nil {
		return err
	}
	if hpaDue {
		if err := h.hpa.step(ctx, now, v); err != nil {
			return err
		}
		if v, err = h.f.look(ctx); err != nil {
			return err
		}
	}
	if caDue {
		return h.ca.step(ctx, now, v)
	}
	return nil
}

// hpa is the Horizontal Pod Autoscaler's algorithm for one target.
type hpa struct {
	f *fleet
	loop
	recs []rec    // unstabilised recommendations, for the scale-down window
	ups  []change // recent scale-ups, for the rate limit
}

type rec struct {
	t time.Time
	n int
}

type change struct {
	t time.Time
	n int
}

// recommend is the HPA's replica calculation. Utilisation is relative to the
// request (the reservation); the simulator reports percent of the limit, so
// it is converted. Pods not yet ready count as using 0 % when scaling up
// (so pending pods damp a scale-up), and are set aside when scaling down.
func recommend(current, ready, unready int, util, target, tol float64) int {
	if ready == 0 {
		return current
	}
	ratio := util / target
	if math.Abs(ratio-1) <= tol {
		return current
	}
	if ratio > 1 && unready > 0 {
		all := ready + unready
		ratio = util * float64(ready) / (target * float64(all))
		if math.Abs(ratio-1) <= tol || ratio < 1 {
			return current // the unready pods' share absorbs the excess
		}
		return int(math.Ceil(ratio*float64(all) - 1e-9))
	}
	return int(math.Ceil(ratio*float64(ready) - 1e-9))
}

func (h *hpa) step(ctx context.Context, now time.Time, v *view) error {
	app := h.f.env.App
	cpu, ok, err := h.f.cpuOfLimit(ctx, HPAMetricWindow)
	if err != nil || !ok {
		return err // no metrics: the HPA does nothing
	}
	util := cpu
	if lim, req := app.Resources.Limits.CPUs, app.Resources.Reservations.CPUs; lim > 0 && req > 0 {
		util = cpu * lim / req
	}
	current := v.Desired
	raw := recommend(current, v.Running, v.Unready, util, TargetCPU, HPATolerance)
	// Scale-down stabilisation: the highest recommendation of the window.
	h.recs = append(h.recs, rec{now, raw})
	cut := 0
	for cut < len(h.recs) && now.Sub(h.recs[cut].t) > HPADownStabilize {
		cut++
	}
	h.recs = h.recs[cut:]
	desired := raw
	if desired < current {
		highest := desired
		for _, r := range h.recs {
			highest = max(highest, r.n)
		}
		desired = min(highest, current)
	}
	// Scale-up rate: from the count at the start of the period, at most
	// +100 % or +4 pods, whichever allows more.
	if desired > current {
		added := 0
		keep := h.ups[:0]
		for _, c := range h.ups {
			if now.Sub(c.t) < HPARatePeriod {
				added += c.n
				keep = append(keep, c)
			}
		}
		h.ups = keep
		start := current - added
		limit := max(int(math.Ceil(float64(start)*(1+HPAUpPercent/100))), start+HPAUpPods)
		desired = min(desired, max(limit, current))
	}
	before := v.Desired
	got, err := h.f.scale(ctx, v, desired)
	if err != nil {
		return err
	}
	if got > before {
		h.ups = append(h.ups, change{now, got - before})
	}
	return nil
}

// autoscaler is the Cluster Autoscaler for one node group (the pool).
type autoscaler struct {
	f *fleet
	loop
	unneeded map[string]time.Time // node ID -> unneeded since
	lastUp   time.Time
}

func (a *autoscaler) step(ctx context.Context, now time.Time, v *view) error {
	pool := a.f.env.Pool
	shape := cluster.Resources{MilliCPU: cluster.CPUs(pool.Machine.CPUs), Memory: int64(pool.Machine.Memory)}
	// Scale-up: pods the scheduler could not place, bin-packed first into the
	// nodes already on their way up, then into new nodes of the group's shape.
	if len(v.Pending) > 0 {
		var upcoming []capacity.Bin
		for i := 0; i < v.Booting; i++ {
			upcoming = append(upcoming, capacity.Bin{ID: "upcoming", Free: shape})
		}
		items := make([]cluster.Resources, len(v.Pending))
		for i, t := range v.Pending {
			items[i] = t.Reservation
		}
		need := capacity.Pack(shape, upcoming, items).NewMachines
		if need > 0 {
			n, err := a.f.order(ctx, v, need)
			if err != nil {
				return err
			}
			if n > 0 {
				a.lastUp = now
				return nil // no scale-down in a loop that scaled up
			}
		}
	}
	// Scale-down: nodes whose requests are under the threshold and whose pods
	// fit elsewhere are unneeded; after the unneeded time (and not within the
	// delay after a scale-up) they are drained and deleted.
	var nodes []capacity.Node
	type cand struct {
		id   string
		util float64
	}
	var cands []cand
	for _, n := range v.Nodes {
		nodes = append(nodes, capacity.Node{ID: n.ID, Capacity: n.Capacity, Tasks: repeat(a.f.resOf(), n.Tasks), Reserved: n.Reserved, Receives: true})
		if u := n.Reserved.Share(n.Capacity); u < CAUtilThreshold {
			cands = append(cands, cand{n.ID, u})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].util < cands[j].util })
	limit := len(v.Nodes) + v.Booting - pool.Min
	ids := make([]string, len(cands))
	for i, c := range cands {
		ids[i] = c.id
	}
	removable := capacity.Removable(nodes, ids, limit)
	keep := map[string]bool{}
	for _, id := range removable {
		keep[id] = true
		if _, ok := a.unneeded[id]; !ok {
			a.unneeded[id] = now
		}
	}
	for id := range a.unneeded {
		if !keep[id] {
			delete(a.unneeded, id)
		}
	}
	if !a.lastUp.IsZero() && now.Sub(a.lastUp) < CADelayAfterAdd {
		return nil
	}
	var matured []string
	for _, id := range removable {
		if now.Sub(a.unneeded[id]) >= CAUnneededTime {
			matured = append(matured, id)
		}
	}
	matured = capacity.Removable(nodes, matured, limit)
	byID := map[string]nodeView{}
	for _, n := range v.Nodes {
		byID[n.ID] = n
	}
	// Empty nodes go in bulk; of the others, one per loop.
	removed, drained := 0, false
	for _, id := range matured {
		n := byID[id]
		if n.Tasks > 0 {
			if drained {
				continue
			}
			drained = true
		} else if removed >= CAMaxEmptyBulk {
			continue
		}
		if err := a.f.remove(ctx, n.Node); err != nil {
			return err
		}
		delete(a.unneeded, id)
		removed++
	}
	return nil
}

// resOf is one replica's reservation (every task in the pool is the app's).
func (f *fleet) resOf() cluster.Resources {
	r := f.env.App.Resources.Reservations
	return cluster.Resources{MilliCPU: cluster.CPUs(r.CPUs), Memory: int64(r.Memory)}
}
