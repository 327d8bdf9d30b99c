package capacity

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/hoist/hoist/internal/cluster"
)

const gib = 1 << 30

func r(milli, gibs int64) cluster.Resources {
	return cluster.Resources{MilliCPU: milli, Memory: gibs * gib}
}

func TestPack(t *testing.T) {
	shape := r(2000, 4) // 2 CPUs, 4 GiB
	cases := []struct {
		name      string
		bins      []Bin
		items     []cluster.Resources
		want      int
		wantUnfit []int
		placed    int
	}{
		{"nothing pending", nil, nil, 0, nil, 0},
		// 5 tasks of 0.5 CPU: 4 fit a machine, the 5th needs a second one.
		{"five halves", nil, rep(r(500, 1), 5), 2, nil, 0},
		// Memory is the binding dimension: 3 x 1.5 GiB need 2 machines of 4 GiB.
		{"memory binds", nil, rep(cluster.Resources{MilliCPU: 100, Memory: 3 * gib / 2}, 3), 2, nil, 0},
		// Existing free room is used first: 1 CPU free holds 2 of the 4 halves.
		{"existing room first", []Bin{{ID: "n1", Free: r(1000, 2)}}, rep(r(500, 1), 4), 1, nil, 2},
		// A booting machine is a whole empty bin: nothing new to order.
		{"machine in flight", []Bin{{ID: "machine:m1", Free: shape}}, rep(r(500, 1), 4), 0, nil, 4},
		// A task bigger than the shape is never ordered for.
		{"fits no shape", nil, []cluster.Resources{r(3000, 1), r(500, 1)}, 1, []int{0}, 0},
		// First fit decreasing: 1.5 + 0.5 share a machine, 1 + 1 another (3 would be naive).
		{"decreasing order", nil, []cluster.Resources{r(1000, 1), r(500, 1), r(1000, 1), r(1500, 1)}, 2, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := Pack(shape, tc.bins, tc.items)
			if res.NewMachines != tc.want {
				t.Errorf("new machines = %d, want %d", res.NewMachines, tc.want)
			}
			if !reflect.DeepEqual(res.Unfit, tc.wantUnfit) {
				t.Errorf("unfit = %v, want %v", res.Unfit, tc.wantUnfit)
			}
			if len(res.Placed) != tc.placed {
				t.Errorf("placed in existing bins = %d, want %d", len(res.Placed), tc.placed)
			}
		})
	}
}

func rep(x cluster.Resources, n int) []cluster.Resources {
	out := make([]cluster.Resources, n)
	for i := range out {
		out[i] = x
	}
	return out
}

// A capped candidate keeps the receivers under their ceiling; an uncapped
// one may fill them.
func TestRemovableCapped(t *testing.T) {
	cap2 := r(2000, 4)
	n1 := Node{ID: "n1", Capacity: cap2, Reserved: r(1000, 1), Tasks: []cluster.Resources{r(1000, 1)}, Receives: true, Ceiling: r(1500, 3)}
	n2 := Node{ID: "n2", Capacity: cap2, Reserved: r(700, 1), Tasks: []cluster.Resources{r(700, 1)}, Receives: true, Ceiling: r(1500, 3)}
	// n2's 0.7 CPU would take n1 to 1.7 > 1.5.
	if got := RemovableCapped([]Node{n1, n2}, []Candidate{{ID: "n2", Capped: true}}, 5); len(got) != 0 {
		t.Errorf("capped: %v, want none", got)
	}
	if got := RemovableCapped([]Node{n1, n2}, []Candidate{{ID: "n2"}}, 5); len(got) != 1 {
		t.Errorf("uncapped: %v, want n2", got)
	}
	// 0.4 fits under the ceiling.
	n2.Tasks, n2.Reserved = []cluster.Resources{r(400, 1)}, r(400, 1)
	if got := RemovableCapped([]Node{n1, n2}, []Candidate{{ID: "n2", Capped: true}}, 5); len(got) != 1 {
		t.Errorf("capped, small: %v, want n2", got)
	}
}

func TestRemovable(t *testing.T) {
	cap2 := r(2000, 4)
	node := func(id string, tasks ...cluster.Resources) Node {
		var res cluster.Resources
		for _, x := range tasks {
			res = res.Add(x)
		}
		return Node{ID: id, Capacity: cap2, Tasks: tasks, Reserved: res, Receives: true}
	}
	half := r(500, 1)
	cases := []struct {
		name  string
		nodes []Node
		cands []string
		limit int
		want  []string
	}{
		// n2's one task fits on n1.
		{"one moves", []Node{node("n1", half, half), node("n2", half)}, []string{"n2"}, 5, []string{"n2"}},
		// Both n2 and n3 are light, but n1 has room for only one of them.
		{"room for one", []Node{node("n1", half, half, half), node("n2", half), node("n3", half)}, []string{"n2", "n3"}, 5, []string{"n2"}},
		// An empty node always goes, even where nothing has room.
		{"empty", []Node{node("n1", half, half, half, half), node("n2")}, []string{"n2"}, 5, []string{"n2"}},
		// The limit (never below min) wins.
		{"limit", []Node{node("n1"), node("n2"), node("n3")}, []string{"n2", "n3"}, 1, []string{"n2"}},
		// n2's task moves onto n3, which then must stay: never both.
		{"not onto each other", []Node{node("n1", half, half, half, half), node("n2", half), node("n3", half)}, []string{"n2", "n3"}, 5, []string{"n2"}},
		// A node that does not receive (draining) offers no room.
		{"non-receiving", []Node{{ID: "n1", Capacity: cap2, Receives: false}, node("n2", half)}, []string{"n2"}, 5, nil},
		// A failed candidate gives its room back: n3 fails (its 1.5 fits
		// nowhere), then n4 still finds the room n3 had tried to take.
		{"rollback", []Node{node("n1", r(1000, 1)), node("n3", r(1500, 1), r(400, 0)), node("n4", r(1000, 1))}, []string{"n3", "n4"}, 5, []string{"n4"}},
		// A task too big for any other node's free room pins its node.
		{"pinned", []Node{node("n1", r(1600, 1)), node("n2", r(1000, 1))}, []string{"n2"}, 5, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Removable(tc.nodes, tc.cands, tc.limit)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// removableRef is RemovableCapped as it was written first: every task's
// first fit scans the receivers from the start. The faster one must choose
// exactly the same nodes.
func removableRef(nodes []Node, candidates []Candidate, limit int) []string {
	if limit <= 0 {
		return nil
	}
	free := make([]cluster.Resources, len(nodes))
	gone := make([]bool, len(nodes))
	for i, n := range nodes {
		if n.Receives {
			free[i] = n.Capacity.Sub(n.Reserved)
		}
	}
	room := func(i int, capped bool) cluster.Resources {
		if capped && !nodes[i].Ceiling.IsZero() {
			return free[i].Sub(nodes[i].Capacity.Sub(nodes[i].Ceiling))
		}
		return free[i]
	}
	var out []string
	misses := 0
	for _, c := range candidates {
		if len(out) >= limit {
			break
		}
		self := slices.IndexFunc(nodes, func(n Node) bool { return n.ID == c.ID })
		if self < 0 || gone[self] || (c.Capped && misses >= maxCappedMisses) {
			continue
		}
		tasks := slices.Clone(nodes[self].Tasks)
		slices.SortStableFunc(tasks, func(a, b cluster.Resources) int {
			return moreFirst(a.Share(nodes[self].Capacity), b.Share(nodes[self].Capacity))
		})
		saved := slices.Clone(free)
		ok := true
		for _, t := range tasks {
			placed := false
			for i := range nodes {
				if i != self && !gone[i] && nodes[i].Receives && room(i, c.Capped).Fits(t) {
					free[i] = free[i].Sub(t)
					placed = true
					break
				}
			}
			if !placed {
				ok = false
				break
			}
		}
		if !ok {
			free = saved
			if c.Capped {
				misses++
			}
			continue
		}
		gone[self] = true
		out = append(out, c.ID)
		misses = 0
	}
	return out
}

// Random clusters with tasks of a few sizes (alike, larger, smaller, larger
// in one dimension only): RemovableCapped chooses what removableRef does, and
// so does a Scratch kept from one round to the next (larger and smaller
// clusters in turn).
func TestRemovableCappedMatchesFirstFitFromStart(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 13))
	var kept Scratch
	sizes := []cluster.Resources{r(250, 1), r(500, 1), r(500, 2), r(1000, 1), r(250, 3), r(750, 0)}
	capacity := r(4000, 8)
	for round := 0; round < 2000; round++ {
		nodes := make([]Node, 2+rng.IntN(12))
		var cands []Candidate
		for i := range nodes {
			n := &nodes[i]
			n.ID = fmt.Sprintf("n%d", i)
			n.Capacity = capacity
			n.Receives = rng.IntN(8) > 0
			if rng.IntN(2) == 0 {
				n.Ceiling = r(int64(2000+rng.IntN(2000)), int64(4+rng.IntN(4)))
			}
			for k := rng.IntN(7); k > 0; k-- {
				var s cluster.Resources
				if len(n.Tasks) > 0 && rng.IntN(2) == 0 {
					s = n.Tasks[len(n.Tasks)-1] // alike, as a service's replicas
				} else {
					s = sizes[rng.IntN(len(sizes))]
				}
				if !capacity.Sub(n.Reserved).Fits(s) {
					break
				}
				n.Tasks = append(n.Tasks, s)
				n.Reserved = n.Reserved.Add(s)
			}
			if rng.IntN(3) > 0 {
				cands = append(cands, Candidate{ID: n.ID, Capped: rng.IntN(2) == 0})
			}
		}
		if rng.IntN(4) == 0 { // a node the cluster does not have (an earlier round's)
			cands = append(cands, Candidate{ID: fmt.Sprintf("n%d", len(nodes)+rng.IntN(4))})
		}
		limit := rng.IntN(len(nodes) + 1)
		got, want := RemovableCapped(nodes, cands, limit), removableRef(nodes, cands, limit)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: got %v, want %v\nnodes %+v\ncandidates %+v", round, got, want, nodes, cands)
		}
		if got := kept.RemovableCapped(nodes, cands, limit); !slices.Equal(got, want) {
			t.Fatalf("round %d: a kept scratch got %v, want %v\nnodes %+v\ncandidates %+v", round, got, want, nodes, cands)
		}
	}
}
