// Package capacity answers the machine-level questions of the loop with pure
// bin-packing: how many machines of a pool's shape the pending tasks need, and
// which nodes could go because their tasks fit on the others.
package capacity

import (
	"sort"

	"github.com/hoist/hoist/internal/cluster"
)

// Bin is room that tasks can be placed into: a node's free resources.
type Bin struct {
	ID   string
	Free cluster.Resources
}

// Result is the outcome of packing tasks into existing room and new machines.
type Result struct {
	// Placed maps an item index to the existing bin it went to.
	Placed map[int]string
	// NewMachines is how many machines of the shape the rest needs.
	NewMachines int
	// Unfit lists the items that fit no machine of the shape at all.
	Unfit []int
	// Left is the free room of the existing bins after packing, in input order.
	Left []Bin
}

// Pack places items, largest first, into the first existing bin with room,
// then into new bins of shape (first fit decreasing), and says how many new
// bins were opened. Items larger than shape are never ordered for: they are
// returned in Unfit. Ties keep input order, so results are deterministic.
func Pack(shape cluster.Resources, bins []Bin, items []cluster.Resources) Result {
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return size(items[order[a]], shape) > size(items[order[b]], shape)
	})
	left := make([]Bin, len(bins))
	copy(left, bins)
	res := Result{Placed: map[int]string{}}
	var opened []cluster.Resources // free room of new bins
	for _, i := range order {
		it := items[i]
		if !shape.Fits(it) {
			res.Unfit = append(res.Unfit, i)
			continue
		}
		placed := false
		for b := range left {
			if left[b].Free.Fits(it) {
				left[b].Free = left[b].Free.Sub(it)
				res.Placed[i] = left[b].ID
				placed = true
				break
			}
		}
		if placed {
			continue
		}
		for b := range opened {
			if opened[b].Fits(it) {
				opened[b] = opened[b].Sub(it)
				placed = true
				break
			}
		}
		if !placed {
			opened = append(opened, shape.Sub(it))
		}
	}
	sort.Ints(res.Unfit)
	res.NewMachines = len(opened)
	res.Left = left
	return res
}

// size is an item's dominant share of the shape, the usual key for
// multi-dimensional first-fit decreasing.
func size(r, shape cluster.Resources) float64 {
	return r.Share(shape)
}

// Node is a node as the scale-down question sees it.
type Node struct {
	ID       string
	Capacity cluster.Resources
	// Tasks are the reservations of the tasks that would have to move.
	Tasks []cluster.Resources
	// Reserved is everything reserved on the node, Tasks included.
	Reserved cluster.Resources
	// Receives: other nodes may place moved tasks here (ready and active).
	Receives bool
	// Ceiling, when set, is the most the node may hold after receiving moved
	// tasks (a consolidation keeps headroom); zero means its capacity.
	Ceiling cluster.Resources
}

// Removable returns the candidates, in the order given, that can go together:
// each one's tasks fit into the free room of the nodes that stay, counting the
// tasks already moved there by the candidates before it. At most limit are
// returned. nodes must include every node that could receive tasks.
func Removable(nodes []Node, candidates []string, limit int) []string {
	if limit <= 0 {
		return nil
	}
	free := make(map[string]cluster.Resources, len(nodes))
	byID := make(map[string]*Node, len(nodes))
	var receivers []string
	for i := range nodes {
		n := &nodes[i]
		byID[n.ID] = n
		if n.Receives {
			room := n.Capacity
			if !n.Ceiling.IsZero() {
				room = n.Ceiling
			}
			free[n.ID] = room.Sub(n.Reserved)
			receivers = append(receivers, n.ID)
		}
	}
	gone := map[string]bool{}
	var out []string
	var undo []placement
	for _, c := range candidates {
		if len(out) >= limit {
			break
		}
		n, ok := byID[c]
		if !ok || gone[c] {
			continue
		}
		undo = undo[:0]
		if fitsElsewhere(n, receivers, free, gone, &undo) {
			gone[c] = true
			delete(free, c)
			out = append(out, c)
			continue
		}
		for _, p := range undo { // put the room back
			free[p.node] = free[p.node].Add(p.r)
		}
	}
	return out
}

type placement struct {
	node string
	r    cluster.Resources
}

// fitsElsewhere places n's tasks, largest first, first-fit into the receivers
// other than n and the nodes already going, taking the room from free and
// logging each placement in undo so a failed attempt can be rolled back.
func fitsElsewhere(n *Node, receivers []string, free map[string]cluster.Resources, gone map[string]bool, undo *[]placement) bool {
	tasks := append([]cluster.Resources(nil), n.Tasks...)
	sort.SliceStable(tasks, func(a, b int) bool {
		return tasks[a].Share(n.Capacity) > tasks[b].Share(n.Capacity)
	})
	for _, t := range tasks {
		placed := false
		for _, id := range receivers {
			if id == n.ID || gone[id] {
				continue
			}
			if f := free[id]; f.Fits(t) {
				free[id] = f.Sub(t)
				*undo = append(*undo, placement{id, t})
				placed = true
				break
			}
		}
		if !placed {
			return false
		}
	}
	return true
}
