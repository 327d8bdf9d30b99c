package swarm

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// drainFake is a cluster of two ready, active workers n1 and n2 with:
// web (replicated, tasks on n1 and n2, no update config), user (replicated,
// a task on n1, its own update config), api (replicated, only on n2),
// agent (global, on n1), gone (replicated, its task on n1 told to stop),
// job (replicated job, on n1).
func drainFake() (*fakeAPI, *removals) {
	f := newFake()
	for _, id := range []string{"n1", "n2"} {
		f.nodes[id] = &swarm.Node{ID: id, Meta: swarm.Meta{Version: swarm.Version{Index: 1}},
			Spec:   swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityActive},
			Status: swarm.NodeStatus{State: swarm.NodeStateReady}}
	}
	one := uint64(1)
	replicated := swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}}
	add := func(name string, mode swarm.ServiceMode, u *swarm.UpdateConfig) {
		f.services[name] = &swarm.Service{ID: "svc-" + name, Meta: swarm.Meta{Version: swarm.Version{Index: 1}},
			Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: name}, Mode: mode, UpdateConfig: u,
				TaskTemplate: swarm.TaskSpec{Placement: &swarm.Placement{Constraints: []string{PoolConstraint("p")}}}}}
	}
	add("web", replicated, nil)
	add("user", replicated, &swarm.UpdateConfig{Parallelism: 2, Order: swarm.UpdateOrderStopFirst})
	add("api", replicated, nil)
	add("agent", swarm.ServiceMode{Global: &swarm.GlobalService{}}, nil)
	add("gone", replicated, nil)
	add("job", swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{}}, nil)
	task := func(svc, node string, desired swarm.TaskState) {
		f.tasks = append(f.tasks, swarm.Task{ID: svc + "." + node, ServiceID: "svc-" + svc, NodeID: node,
			DesiredState: desired, Status: swarm.TaskStatus{State: swarm.TaskStateRunning}})
	}
	task("web", "n1", swarm.TaskStateRunning)
	task("web", "n2", swarm.TaskStateRunning)
	task("user", "n1", swarm.TaskStateRunning)
	task("api", "n2", swarm.TaskStateRunning)
	task("agent", "n1", swarm.TaskStateRunning)
	task("gone", "n1", swarm.TaskStateShutdown)
	task("job", "n1", swarm.TaskStateRunning)
	return f, &removals{copying: copying{f}}
}

// removals records each node's availability when it was removed.
type removals struct {
	copying
	avail map[string]swarm.NodeAvailability
}

func (r *removals) NodeRemove(ctx context.Context, id string, o client.NodeRemoveOptions) (client.NodeRemoveResult, error) {
	if n, ok := r.nodes[id]; ok {
		if r.avail == nil {
			r.avail = map[string]swarm.NodeAvailability{}
		}
		r.avail[id] = n.Spec.Availability
	}
	return r.copying.NodeRemove(ctx, id, o)
}

func constraintsOf(f *fakeAPI, name string) []string {
	return f.services[name].Spec.TaskTemplate.Placement.Constraints
}

func TestDrainPinsOnlyReplicatedServicesOnTheNode(t *testing.T) {
	ctx := context.Background()
	f, api := drainFake()
	before := deepCopy(f.services)
	o := New(api, Options{})
	if err := o.Drain(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if a := f.nodes["n1"].Spec.Availability; a != swarm.NodeAvailabilityPause {
		t.Errorf("n1 availability %s, want pause (its tasks stay until replaced)", a)
	}
	if a := f.nodes["n2"].Spec.Availability; a != swarm.NodeAvailabilityActive {
		t.Errorf("n2 availability %s", a)
	}
	for _, name := range []string{"web", "user"} {
		if c := constraintsOf(f, name); !slices.Equal(c, []string{PoolConstraint("p"), "node.id!=n1"}) {
			t.Errorf("%s constraints %v, want the pool's and node.id!=n1", name, c)
		}
	}
	if u := f.services["web"].Spec.UpdateConfig; u == nil || *u != (swarm.UpdateConfig{Parallelism: 1, Order: swarm.UpdateOrderStartFirst}) {
		t.Errorf("web update config %+v, want parallelism 1, start-first", u)
	}
	if u := f.services["user"].Spec.UpdateConfig; *u != (swarm.UpdateConfig{Parallelism: 2, Order: swarm.UpdateOrderStartFirst}) {
		t.Errorf("user update config %+v, want only its order changed", u)
	}
	if got := f.services["web"].Spec.Labels[LabelOrder]; got != "none" {
		t.Errorf("web %s=%q, want none", LabelOrder, got)
	}
	if got := f.services["user"].Spec.Labels[LabelOrder]; got != "stop-first" {
		t.Errorf("user %s=%q, want stop-first", LabelOrder, got)
	}
	// Not on n1, global, told to stop already, a job: untouched.
	for _, name := range []string{"api", "agent", "gone", "job"} {
		if !reflect.DeepEqual(f.services[name].Spec, before[name].Spec) {
			t.Errorf("%s changed: %+v", name, f.services[name].Spec)
		}
	}
	// A retry (the engine retries a drain whose call failed) writes nothing.
	writes := len(f.updates)
	if err := o.Drain(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if len(f.updates) != writes {
		t.Errorf("a second drain wrote %d service updates", len(f.updates)-writes)
	}
	if c := constraintsOf(f, "web"); len(c) != 2 {
		t.Errorf("web constraints after a retry %v", c)
	}
}

func TestDrainRetriesConflictsAndReportsErrors(t *testing.T) {
	ctx := context.Background()
	f, api := drainFake()
	o := New(api, Options{})
	f.conflicts = 2 // the pause, then web's update
	if err := o.Drain(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if c := constraintsOf(f, "web"); !slices.Contains(c, "node.id!=n1") {
		t.Errorf("web not pinned after conflicts: %v", c)
	}
	if err := o.Drain(ctx, "nope"); err == nil {
		t.Error("draining a missing node: no error")
	}
}

func TestActivateAndRemoveNodeUnpin(t *testing.T) {
	ctx := context.Background()
	f, api := drainFake()
	o := New(api, Options{})
	for _, n := range []string{"n1", "n2"} {
		if err := o.Drain(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if c := constraintsOf(f, "web"); !slices.Equal(c, []string{PoolConstraint("p"), "node.id!=n1", "node.id!=n2"}) {
		t.Fatalf("web constraints %v", c)
	}
	// n1's scale-in cancelled: active, unpinned; web stays start-first
	// while n2's drain goes on.
	if err := o.Activate(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if a := f.nodes["n1"].Spec.Availability; a != swarm.NodeAvailabilityActive {
		t.Errorf("n1 availability %s", a)
	}
	if c := constraintsOf(f, "web"); !slices.Equal(c, []string{PoolConstraint("p"), "node.id!=n2"}) {
		t.Errorf("web constraints after n1's activation %v", c)
	}
	if u := f.services["web"].Spec.UpdateConfig; u == nil || u.Order != swarm.UpdateOrderStartFirst {
		t.Errorf("web order restored while n2 still drains: %+v", u)
	}
	if u := f.services["user"].Spec.UpdateConfig; u.Order != swarm.UpdateOrderStopFirst || f.services["user"].Spec.Labels[LabelOrder] != "" {
		t.Errorf("user's order not restored once unpinned: %+v %v", u, f.services["user"].Spec.Labels)
	}
	// A ready, active node is refused and nothing is unpinned.
	if err := o.RemoveNode(ctx, "n1"); !errors.Is(err, ErrNotDrained) {
		t.Fatalf("removing an active node: %v", err)
	}
	// A paused one is drained (its global tasks stop), removed, unpinned.
	if err := o.RemoveNode(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.nodes["n2"]; ok {
		t.Error("n2 not removed")
	}
	if a := api.avail["n2"]; a != swarm.NodeAvailabilityDrain {
		t.Errorf("n2 was %q when removed, want drain", a)
	}
	if c := constraintsOf(f, "web"); !slices.Equal(c, []string{PoolConstraint("p")}) {
		t.Errorf("web constraints after n2's removal %v", c)
	}
	if s := f.services["web"].Spec; s.UpdateConfig != nil || s.Labels[LabelOrder] != "" {
		t.Errorf("web's update config not restored: %+v %v", s.UpdateConfig, s.Labels)
	}
}

func TestRemoveNodeGoneUnpins(t *testing.T) {
	ctx := context.Background()
	f, api := drainFake()
	o := New(api, Options{})
	if err := o.Drain(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	// The node left before hoist removed it (or hoist crashed in between).
	delete(f.nodes, "n1")
	if err := o.RemoveNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"web", "user"} {
		if c := constraintsOf(f, name); slices.Contains(c, "node.id!=n1") {
			t.Errorf("%s still pinned: %v", name, c)
		}
	}
}

func TestDeployKeepsPins(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	f.nodes["n1"] = &swarm.Node{ID: "n1", Spec: swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityActive},
		Status: swarm.NodeStatus{State: swarm.NodeStateReady}}
	o := New(copying{f}, Options{Pools: []string{"workers"}})
	if err := o.Deploy(ctx, demoApp(), 2); err != nil {
		t.Fatal(err)
	}
	if u := f.services["demo"].Spec.UpdateConfig; u == nil || u.Order != swarm.UpdateOrderStartFirst || u.Parallelism != 1 {
		t.Errorf("deployed with update config %+v, want parallelism 1, start-first", u)
	}
	f.tasks = []swarm.Task{{ID: "t1", ServiceID: "svc-demo", NodeID: "n1", DesiredState: swarm.TaskStateRunning}}
	if err := o.Drain(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	// A descriptor reload during the drain: the move goes on.
	a := demoApp()
	a.Image = "hoist/demoapp:v2"
	if err := o.Deploy(ctx, a, 2); err != nil {
		t.Fatal(err)
	}
	spec := f.services["demo"].Spec
	if c := spec.TaskTemplate.Placement.Constraints; !slices.Equal(c, []string{PoolConstraint("workers"), "node.id!=n1"}) {
		t.Errorf("constraints after a redeploy %v", c)
	}
	if spec.TaskTemplate.ContainerSpec.Image != "hoist/demoapp:v2" || spec.UpdateConfig.Order != swarm.UpdateOrderStartFirst {
		t.Errorf("redeploy: image %s, order %s", spec.TaskTemplate.ContainerSpec.Image, spec.UpdateConfig.Order)
	}
	if err := o.RemoveNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if c := f.services["demo"].Spec.TaskTemplate.Placement.Constraints; !slices.Equal(c, []string{PoolConstraint("workers")}) {
		t.Errorf("constraints after the node's removal %v", c)
	}
}

func TestPinsReadBack(t *testing.T) {
	// State reads pools from hoist.pool constraints only: a pin changes nothing.
	c := []string{PoolConstraint("a"), PinConstraint("n1")}
	if got := PoolsOf(c, []string{"a", "b"}); !slices.Equal(got, []string{"a"}) {
		t.Errorf("pools %v", got)
	}
	spec := swarm.ServiceSpec{TaskTemplate: swarm.TaskSpec{Placement: &swarm.Placement{Constraints: append(c, "node.id==x", " node.id != n2 ")}}}
	if got := pins(spec); !slices.Equal(got, []string{"node.id!=n1", " node.id != n2 "}) {
		t.Errorf("pins %v", got)
	}
}

// KeepDrain carries a drain over a spec rebuilt from the descriptor (the
// balancer's redeploy uses it): the pins, start-first until the drain ends,
// and the rebuilt spec's own order to restore then; the caller's spec, which
// it may reuse on a conflict, is left as it was; without pins nothing changes.
func TestKeepDrain(t *testing.T) {
	cur := swarm.ServiceSpec{TaskTemplate: swarm.TaskSpec{Placement: &swarm.Placement{Constraints: []string{PoolConstraint("a"), PinConstraint("n1")}}}}
	built := swarm.ServiceSpec{Annotations: swarm.Annotations{Labels: map[string]string{"k": "v"}},
		TaskTemplate: swarm.TaskSpec{Placement: &swarm.Placement{Constraints: make([]string, 1, 4)}},
		UpdateConfig: &swarm.UpdateConfig{Parallelism: 1, Order: swarm.UpdateOrderStopFirst}}
	built.TaskTemplate.Placement.Constraints[0] = PoolConstraint("a")
	next := built
	KeepDrain(cur, &next)
	if got := next.TaskTemplate.Placement.Constraints; !slices.Equal(got, []string{PoolConstraint("a"), PinConstraint("n1")}) {
		t.Errorf("constraints %v", got)
	}
	if next.UpdateConfig.Order != swarm.UpdateOrderStartFirst || next.Labels[LabelOrder] != string(swarm.UpdateOrderStopFirst) || next.Labels["k"] != "v" {
		t.Errorf("update %+v, labels %v", next.UpdateConfig, next.Labels)
	}
	if len(built.TaskTemplate.Placement.Constraints) != 1 || built.UpdateConfig.Order != swarm.UpdateOrderStopFirst || len(built.Labels) != 1 {
		t.Errorf("the caller's spec changed: %+v", built)
	}
	again := built
	KeepDrain(swarm.ServiceSpec{}, &again)
	if !reflect.DeepEqual(again, built) {
		t.Errorf("no drain: %+v", again)
	}
}
