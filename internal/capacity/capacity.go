// Package capacity answers the machine-level questions of the loop with pure
// bin-packing: how many machines of a pool's shape the pending tasks need, and
// which nodes could go because their tasks fit on the others.
package capacity

import (
	"slices"
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
	// Placed maps an item index to the existing bin it went to (nil when
	// none did).
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
	slices.SortStableFunc(order, func(a, b int) int {
		return moreFirst(size(items[a], shape), size(items[b], shape))
	})
	left := make([]Bin, len(bins))
	copy(left, bins)
	// Placed is made at the first placement: most calls place nothing.
	var res Result
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
				if res.Placed == nil {
					res.Placed = map[int]string{}
				}
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

// moreFirst orders larger values first: its sign is that of sort's less
// "a > b" (-1 when a > b, 1 when b > a, else 0), so a stable sort by it
// keeps exactly the order sort.SliceStable with that less did.
func moreFirst(a, b float64) int {
	switch {
	case a > b:
		return -1
	case b > a:
		return 1
	}
	return 0
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
	// Ceiling is the most the node may hold after receiving the tasks of a
	// capped candidate (a consolidation keeps headroom); zero means capacity.
	Ceiling cluster.Resources
}

// Candidate is a node that might go.
type Candidate struct {
	ID string
	// Capped: its tasks may fill the receivers only up to their Ceiling.
	Capped bool
}

// Removable returns the candidates, in the order given, that can go together:
// each one's tasks fit into the free room of the nodes that stay, counting the
// tasks already moved there by the candidates before it. At most limit are
// returned. nodes must include every node that could receive tasks.
func Removable(nodes []Node, candidates []string, limit int) []string {
	cs := make([]Candidate, len(candidates))
	for i, id := range candidates {
		cs[i] = Candidate{ID: id}
	}
	return RemovableCapped(nodes, cs, limit)
}

// maxCappedMisses bounds the work of a consolidation: candidates come emptiest
// first, so once this many capped ones in a row fail to fit, the fuller ones
// after them will not either (and each trial costs tasks x receivers).
const maxCappedMisses = 8

// RemovableCapped is Removable where some candidates may only use the room
// below the receivers' ceilings.
func RemovableCapped(nodes []Node, candidates []Candidate, limit int) []string {
	var sc Scratch
	return sc.RemovableCapped(nodes, candidates, limit)
}

// Scratch is RemovableCapped's working memory, for a caller that asks again
// and again (a control loop): made once and refilled on each call instead
// of made anew. Nothing in it outlives a call, nor is returned.
type Scratch struct {
	free, headroom []cluster.Resources
	gone           []bool
	index          map[string]int
	receivers      []int
	undo           []placement
	tasks          []cluster.Resources // fitsElsewhere's
}

// RemovableCapped is the package's RemovableCapped, working in sc.
func (sc *Scratch) RemovableCapped(nodes []Node, candidates []Candidate, limit int) []string {
	if limit <= 0 || len(candidates) == 0 {
		return nil // as the loop below would, without filling its slices and map
	}
	// Slices indexed like nodes, not maps: this runs candidates x tasks x
	// receivers times on large clusters. All start zero (cleared).
	free := zeroed(sc.free, len(nodes))
	headroom := zeroed(sc.headroom, len(nodes)) // capacity - ceiling
	gone := zeroed(sc.gone, len(nodes))
	if sc.index == nil {
		sc.index = make(map[string]int, len(nodes))
	}
	clear(sc.index)
	index := sc.index
	receivers := sc.receivers[:0]
	sc.free, sc.headroom, sc.gone = free, headroom, gone
	for i := range nodes {
		n := &nodes[i]
		index[n.ID] = i
		if n.Receives {
			free[i] = n.Capacity.Sub(n.Reserved)
			if !n.Ceiling.IsZero() {
				headroom[i] = n.Capacity.Sub(n.Ceiling)
			}
			receivers = append(receivers, i)
		}
	}
	sc.receivers = receivers
	var out []string
	undo := sc.undo[:0]
	misses := 0
	for _, c := range candidates {
		if len(out) >= limit {
			break
		}
		i, ok := index[c.ID]
		if !ok || gone[i] || (c.Capped && misses >= maxCappedMisses) {
			continue
		}
		undo = undo[:0]
		if fitsElsewhere(nodes, i, receivers, free, headroom, c.Capped, gone, &undo, &sc.tasks) {
			gone[i] = true
			out = append(out, c.ID)
			misses = 0
			continue
		}
		for _, p := range undo { // put the room back
			free[p.node] = free[p.node].Add(p.r)
		}
		if c.Capped {
			misses++
		}
	}
	sc.undo = undo
	return out
}

// zeroed returns s at length n, every element zero, reusing its array when
// it is large enough.
func zeroed[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

type placement struct {
	node int
	r    cluster.Resources
}

// fitsElsewhere places node self's tasks, largest first, first-fit into the
// receivers other than self and the nodes already going, taking the room
// from free (keeping each receiver's headroom when capped) and logging each
// placement in undo so a failed attempt can be rolled back.
func fitsElsewhere(nodes []Node, self int, receivers []int, free, headroom []cluster.Resources, capped bool, gone []bool, undo *[]placement, scratch *[]cluster.Resources) bool {
	n := &nodes[self]
	tasks := append((*scratch)[:0], n.Tasks...)
	*scratch = tasks
	slices.SortStableFunc(tasks, func(a, b cluster.Resources) int {
		return moreFirst(a.Share(n.Capacity), b.Share(n.Capacity))
	})
	// from is where the first fit of the next task may start: a task at
	// least as large as the one before it (each dimension) fits none of the
	// receivers the one before passed over, whose room has only shrunk since
	// (a node's replicas are often all alike: each task then resumes where
	// the last was placed instead of rescanning the full receivers).
	from := 0
	var prev cluster.Resources
	for k, t := range tasks {
		if k == 0 || !t.Fits(prev) {
			from = 0
		}
		prev = t
		placed := false
		for j := from; j < len(receivers); j++ {
			id := receivers[j]
			if id == self || gone[id] {
				continue
			}
			room := free[id]
			if capped {
				room = room.Sub(headroom[id])
			}
			if room.Fits(t) {
				free[id] = free[id].Sub(t)
				*undo = append(*undo, placement{id, t})
				placed, from = true, j
				break
			}
		}
		if !placed {
			return false
		}
	}
	return true
}
