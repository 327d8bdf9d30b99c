package bench

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
)

// fleet is what every reference controller shares: a view of the app and
// its pool, machine orders, and the safe way to remove a machine (drain, wait
// until no task is left, remove the node, destroy the machine).
type fleet struct {
	env     *Env
	prefix  string
	seq     int
	leaving map[string]string // node ID -> machine, drained and waiting to be empty
}

func newFleet(env *Env, prefix string) *fleet {
	return &fleet{env: env, prefix: prefix, leaving: map[string]string{}}
}

// nodeView is a ready node of the pool with what runs on it.
type nodeView struct {
	cluster.Node
	Tasks    int // live tasks of any service
	Running  int // running tasks of the app
	Reserved cluster.Resources
}

// view is the app and its pool at one instant.
type view struct {
	Service *cluster.Service
	// Desired, Running, Unready (pending or starting) replicas of the app.
	Desired, Running, Unready int
	// Pending are the app's tasks waiting for room.
	Pending []cluster.Task
	// Nodes are the pool's ready, active nodes, by ID.
	Nodes []nodeView
	// Booting machines exist at the provider without a node yet.
	Booting int
	// Exists counts the pool's machines at the provider (booting and leaving too).
	Exists int
}

func (f *fleet) look(ctx context.Context) (*view, error) {
	if err := f.finishLeaving(ctx); err != nil {
		return nil, err
	}
	st, err := f.env.Cluster.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	ms, err := f.env.Provider.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list machines: %w", err)
	}
	v := &view{}
	app := f.env.App.Name
	for i := range st.Services {
		if st.Services[i].Name == app {
			v.Service = &st.Services[i]
			v.Desired = st.Services[i].Desired
		}
	}
	per := map[string]*nodeView{}
	withNode := map[string]bool{}
	for _, n := range st.Nodes {
		if n.Pool != f.env.Pool.Name {
			continue
		}
		withNode[n.Machine] = true
		if n.Schedulable() {
			per[n.ID] = &nodeView{Node: n}
		}
	}
	for _, t := range st.Tasks {
		if nv := per[t.NodeID]; nv != nil {
			nv.Tasks++
			nv.Reserved = nv.Reserved.Add(t.Reservation)
			if t.Service == app && t.State == cluster.TaskRunning {
				nv.Running++
			}
		}
		if t.Service != app {
			continue
		}
		switch {
		case t.State == cluster.TaskRunning:
			v.Running++
		default:
			v.Unready++
			if t.PendingForResources() {
				v.Pending = append(v.Pending, t)
			}
		}
	}
	for _, nv := range per {
		v.Nodes = append(v.Nodes, *nv)
	}
	sort.Slice(v.Nodes, func(i, j int) bool { return v.Nodes[i].ID < v.Nodes[j].ID })
	for _, m := range ms {
		if m.Status == cluster.MachineFailed {
			continue
		}
		v.Exists++
		if !withNode[m.Name] && m.Status == cluster.MachineCreating {
			v.Booting++
		}
	}
	return v, nil
}

// deployed makes sure the app's service exists, with its min replicas.
func (f *fleet) deployed(ctx context.Context, v *view) (bool, error) {
	if v.Service != nil {
		return true, nil
	}
	if err := f.env.Cluster.Deploy(ctx, *f.env.App, f.env.App.Replicas.Min); err != nil {
		return false, fmt.Errorf("deploy: %w", err)
	}
	return false, nil
}

// scale sets the app's replicas within its bounds; it reports the count set.
func (f *fleet) scale(ctx context.Context, v *view, n int) (int, error) {
	n = min(max(n, f.env.App.Replicas.Min), f.env.App.Replicas.Max)
	if n == v.Desired {
		return n, nil
	}
	if err := f.env.Cluster.Scale(ctx, f.env.App.Name, n); err != nil {
		return v.Desired, fmt.Errorf("scale to %d: %w", n, err)
	}
	v.Desired = n
	return n, nil
}

// order creates n machines, never beyond the pool's max; it reports how many.
func (f *fleet) order(ctx context.Context, v *view, n int) (int, error) {
	n = min(n, f.env.Pool.Max-v.Exists)
	for i := 0; i < n; i++ {
		f.seq++
		name := fmt.Sprintf("%s-%s-%d", f.env.Pool.Name, f.prefix, f.seq)
		if _, err := f.env.Provider.Create(ctx, name); err != nil {
			return i, fmt.Errorf("create %s: %w", name, err)
		}
		v.Exists++
		v.Booting++
	}
	return max(n, 0), nil
}

// remove drains a node and, once no task is left on it, removes it from the
// cluster and destroys its machine. A node that is not empty yet stays
// drained and is finished by a later look.
func (f *fleet) remove(ctx context.Context, n cluster.Node) error {
	if err := f.env.Cluster.DrainStopFirst(ctx, n.ID); err != nil {
		return fmt.Errorf("drain %s: %w", n.ID, err)
	}
	f.leaving[n.ID] = n.Machine
	return f.finishLeaving(ctx)
}

func (f *fleet) finishLeaving(ctx context.Context) error {
	if len(f.leaving) == 0 {
		return nil
	}
	st, err := f.env.Cluster.State(ctx)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	busy := map[string]bool{}
	for _, t := range st.Tasks {
		busy[t.NodeID] = true
	}
	for _, id := range sortedKeys(f.leaving) {
		if busy[id] {
			continue // not empty yet: try again on the next look
		}
		machine := f.leaving[id]
		if err := f.env.Cluster.RemoveNode(ctx, id); err != nil {
			return fmt.Errorf("remove node %s: %w", id, err)
		}
		if err := f.env.Provider.Destroy(ctx, machine); err != nil {
			return fmt.Errorf("destroy %s: %w", machine, err)
		}
		delete(f.leaving, id)
	}
	return nil
}

// emptiest is the ready node with the fewest tasks (ties: the last by ID, the
// newest machine), the one a rule-based "-1 machine" takes away.
func emptiest(nodes []nodeView) (nodeView, bool) {
	if len(nodes) == 0 {
		return nodeView{}, false
	}
	best := nodes[0]
	for _, n := range nodes[1:] {
		if n.Tasks <= best.Tasks {
			best = n
		}
	}
	return best, true
}

// cpuOfLimit is the app's CPU per running replica, percent of its limit,
// averaged over window; ok is false without data (no running replica).
func (f *fleet) cpuOfLimit(ctx context.Context, window time.Duration) (float64, bool, error) {
	v, err := f.env.Cluster.Value(ctx, engine.MetricQuery{App: f.env.App.Name, Metric: "cpu", Window: window})
	if errors.Is(err, engine.ErrNoData) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("cpu: %w", err)
	}
	return v, true, nil
}

// limitCores is the app's CPU limit in cores (the reservation without a limit).
func limitCores(app *config.App) float64 {
	switch r := app.Resources; {
	case r.Limits.CPUs > 0:
		return r.Limits.CPUs
	case r.Reservations.CPUs > 0:
		return r.Reservations.CPUs
	}
	return 1
}

// meanNodeCPU is the mean CPU use of the pool's ready nodes, percent of each
// node's cores: the app's replicas on a node times the cores each one uses.
// Every replica carries the same load (the balancer spreads it evenly).
func (f *fleet) meanNodeCPU(v *view, perReplicaPct float64) float64 {
	if len(v.Nodes) == 0 {
		return 0
	}
	cores := limitCores(f.env.App)
	sum := 0.0
	for _, n := range v.Nodes {
		nodeCores := float64(n.Capacity.MilliCPU) / 1000
		if nodeCores <= 0 {
			continue
		}
		sum += float64(n.Running) * perReplicaPct * cores / nodeCores
	}
	return sum / float64(len(v.Nodes))
}

// loop runs a controller's rule every period on the virtual clock.
type loop struct {
	period time.Duration
	next   time.Time
}

func (l *loop) due(now time.Time) bool {
	if now.Before(l.next) {
		return false
	}
	l.next = now.Add(l.period)
	return true
}
