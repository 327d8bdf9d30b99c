package swarm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
)

// fakeAPI is an in-memory Swarm manager: just enough for the logic tests.
type fakeAPI struct {
	services  map[string]*swarm.Service // by name
	nodes     map[string]*swarm.Node
	tasks     []swarm.Task
	networks  map[string]bool
	conflicts int // the next n updates fail out of sequence
	updates   []swarm.Version
	removed   []string
}

func newFake() *fakeAPI {
	return &fakeAPI{services: map[string]*swarm.Service{}, nodes: map[string]*swarm.Node{}, networks: map[string]bool{}}
}

var errOutOfSequence = errors.New("Error response from daemon: rpc error: code = Unknown desc = update out of sequence")

func notFound(what string) error { return fmt.Errorf("%s: %w", what, cerrdefs.ErrNotFound) }

func (f *fakeAPI) ServiceList(context.Context, client.ServiceListOptions) (client.ServiceListResult, error) {
	var out []swarm.Service
	for _, s := range f.services {
		out = append(out, *s)
	}
	return client.ServiceListResult{Items: out}, nil
}

func (f *fakeAPI) ServiceInspect(_ context.Context, id string, _ client.ServiceInspectOptions) (client.ServiceInspectResult, error) {
	for _, s := range f.services {
		if s.ID == id || s.Spec.Name == id {
			return client.ServiceInspectResult{Service: *s}, nil
		}
	}
	return client.ServiceInspectResult{}, notFound("service " + id)
}

func (f *fakeAPI) ServiceCreate(_ context.Context, o client.ServiceCreateOptions) (client.ServiceCreateResult, error) {
	id := "svc-" + o.Spec.Name
	f.services[o.Spec.Name] = &swarm.Service{ID: id, Meta: swarm.Meta{Version: swarm.Version{Index: 1}}, Spec: o.Spec}
	return client.ServiceCreateResult{ID: id}, nil
}

func (f *fakeAPI) ServiceUpdate(_ context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error) {
	for _, s := range f.services {
		if s.ID != id {
			continue
		}
		f.updates = append(f.updates, o.Version)
		if f.conflicts > 0 {
			f.conflicts--
			s.Version.Index++ // someone else wrote
			return client.ServiceUpdateResult{}, errOutOfSequence
		}
		if o.Version != s.Version {
			return client.ServiceUpdateResult{}, errOutOfSequence
		}
		s.Spec = o.Spec
		s.Version.Index++
		return client.ServiceUpdateResult{}, nil
	}
	return client.ServiceUpdateResult{}, notFound("service " + id)
}

func (f *fakeAPI) ServiceRemove(_ context.Context, id string, _ client.ServiceRemoveOptions) (client.ServiceRemoveResult, error) {
	for n, s := range f.services {
		if s.ID == id || n == id {
			delete(f.services, n)
			return client.ServiceRemoveResult{}, nil
		}
	}
	return client.ServiceRemoveResult{}, notFound("service " + id)
}

func (f *fakeAPI) TaskList(context.Context, client.TaskListOptions) (client.TaskListResult, error) {
	return client.TaskListResult{Items: f.tasks}, nil
}

func (f *fakeAPI) NodeList(context.Context, client.NodeListOptions) (client.NodeListResult, error) {
	var out []swarm.Node
	for _, n := range f.nodes {
		out = append(out, *n)
	}
	return client.NodeListResult{Items: out}, nil
}

func (f *fakeAPI) NodeInspect(_ context.Context, id string, _ client.NodeInspectOptions) (client.NodeInspectResult, error) {
	if n, ok := f.nodes[id]; ok {
		return client.NodeInspectResult{Node: *n}, nil
	}
	return client.NodeInspectResult{}, notFound("node " + id)
}

func (f *fakeAPI) NodeUpdate(_ context.Context, id string, o client.NodeUpdateOptions) (client.NodeUpdateResult, error) {
	n, ok := f.nodes[id]
	if !ok {
		return client.NodeUpdateResult{}, notFound("node " + id)
	}
	if f.conflicts > 0 {
		f.conflicts--
		n.Version.Index++
		return client.NodeUpdateResult{}, errOutOfSequence
	}
	if o.Version != n.Version {
		return client.NodeUpdateResult{}, errOutOfSequence
	}
	n.Spec = o.Spec
	n.Version.Index++
	return client.NodeUpdateResult{}, nil
}

func (f *fakeAPI) NodeRemove(_ context.Context, id string, o client.NodeRemoveOptions) (client.NodeRemoveResult, error) {
	n, ok := f.nodes[id]
	if !ok {
		return client.NodeRemoveResult{}, notFound("node " + id)
	}
	if n.Status.State != swarm.NodeStateDown && !o.Force {
		return client.NodeRemoveResult{}, errors.New("node is not down and can't be removed")
	}
	delete(f.nodes, id)
	f.removed = append(f.removed, id)
	return client.NodeRemoveResult{}, nil
}

func (f *fakeAPI) NetworkInspect(_ context.Context, id string, _ client.NetworkInspectOptions) (client.NetworkInspectResult, error) {
	if f.networks[id] {
		return client.NetworkInspectResult{}, nil
	}
	return client.NetworkInspectResult{}, notFound("network " + id)
}

func (f *fakeAPI) NetworkCreate(_ context.Context, name string, o client.NetworkCreateOptions) (client.NetworkCreateResult, error) {
	if o.Driver != "overlay" || !o.Attachable {
		return client.NetworkCreateResult{}, fmt.Errorf("want an attachable overlay, got %+v", o)
	}
	f.networks[name] = true
	return client.NetworkCreateResult{ID: name}, nil
}

var _ API = (*fakeAPI)(nil)

type recorder struct{ evs []events.Event }

func (r *recorder) Record(e events.Event) events.Event { r.evs = append(r.evs, e); return e }

func demoApp() config.App {
	a := config.App{Name: "demo", Image: "hoist/demoapp:latest", Pools: []string{"workers"}, Port: 8080,
		Env: []string{"WORK=10ms"}, Args: []string{"serve"}}
	a.Resources.Limits = config.Shape{CPUs: 0.5, Memory: 128 << 20}
	a.Resources.Reservations = config.Shape{CPUs: 0.4, Memory: 64 << 20}
	a.Replicas = config.Replicas{Min: 2, Max: 6}
	return a
}

func TestDeployCreatesServiceOnItsPool(t *testing.T) {
	f := newFake()
	o := New(f, Options{Pools: []string{"workers"}})
	if err := o.Deploy(context.Background(), demoApp(), 2); err != nil {
		t.Fatal(err)
	}
	s := f.services["demo"]
	if s == nil || !f.networks["hoist-demo"] {
		t.Fatalf("service or network missing: %+v %v", s, f.networks)
	}
	spec := s.Spec
	if got := *spec.Mode.Replicated.Replicas; got != 2 {
		t.Errorf("replicas = %d", got)
	}
	if c := spec.TaskTemplate.Placement.Constraints; len(c) != 1 || c[0] != "node.labels.hoist.pool==workers" {
		t.Errorf("constraints = %v", c)
	}
	if spec.Labels[LabelManaged] != "true" || spec.Labels[LabelApp] != "demo" {
		t.Errorf("labels = %v", spec.Labels)
	}
	r := spec.TaskTemplate.Resources
	if r.Reservations.NanoCPUs != 4e8 || r.Limits.NanoCPUs != 5e8 || r.Reservations.MemoryBytes != 64<<20 {
		t.Errorf("resources = %+v %+v", r.Reservations, r.Limits)
	}
	if spec.EndpointSpec.Mode != swarm.ResolutionModeDNSRR {
		t.Errorf("endpoint mode = %s", spec.EndpointSpec.Mode)
	}
	if spec.TaskTemplate.ContainerSpec.Labels[LabelMetrics] != "8080" {
		t.Errorf("container labels = %v", spec.TaskTemplate.ContainerSpec.Labels)
	}
	// Deploying again updates the spec but keeps the replica count the engine set.
	if err := o.Scale(context.Background(), "demo", 5); err != nil {
		t.Fatal(err)
	}
	a := demoApp()
	a.Image = "hoist/demoapp:v2"
	if err := o.Deploy(context.Background(), a, 2); err != nil {
		t.Fatal(err)
	}
	spec = f.services["demo"].Spec
	if *spec.Mode.Replicated.Replicas != 5 || spec.TaskTemplate.ContainerSpec.Image != "hoist/demoapp:v2" {
		t.Errorf("after redeploy: replicas %d image %s", *spec.Mode.Replicated.Replicas, spec.TaskTemplate.ContainerSpec.Image)
	}
}

func TestScaleRetriesOutOfSequence(t *testing.T) {
	f := newFake()
	o := New(f, Options{})
	if err := o.Deploy(context.Background(), demoApp(), 2); err != nil {
		t.Fatal(err)
	}
	f.conflicts = 2
	if err := o.Scale(context.Background(), "demo", 4); err != nil {
		t.Fatal(err)
	}
	if got := *f.services["demo"].Spec.Mode.Replicated.Replicas; got != 4 {
		t.Fatalf("replicas = %d", got)
	}
	if len(f.updates) != 3 || f.updates[2].Index != f.updates[1].Index+1 {
		t.Errorf("updates carried versions %v: each retry must re-read the version", f.updates)
	}
	f.conflicts = conflictRetries
	if err := o.Scale(context.Background(), "demo", 5); err == nil || !IsConflict(err) {
		t.Errorf("endless conflicts: err = %v", err)
	}
	if err := o.Scale(context.Background(), "nope", 1); !errors.Is(err, ErrNoService) {
		t.Errorf("missing service: err = %v", err)
	}
}

func TestStateMapsTasksAndNodes(t *testing.T) {
	f := newFake()
	o := New(f, Options{Pools: []string{"workers"}})
	if err := o.Deploy(context.Background(), demoApp(), 3); err != nil {
		t.Fatal(err)
	}
	f.services["agent"] = &swarm.Service{ID: "svc-agent", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "agent"},
		Mode: swarm.ServiceMode{Global: &swarm.GlobalService{}}}}
	f.nodes["n1"] = &swarm.Node{ID: "n1", Spec: swarm.NodeSpec{Role: swarm.NodeRoleManager, Availability: swarm.NodeAvailabilityActive},
		Status:      swarm.NodeStatus{State: swarm.NodeStateReady, Addr: "10.213.0.1"},
		Description: swarm.NodeDescription{Resources: swarm.Resources{NanoCPUs: 2e9, MemoryBytes: 4 << 30}}}
	f.nodes["n2"] = &swarm.Node{ID: "n2", Spec: swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityDrain,
		Annotations: swarm.Annotations{Labels: map[string]string{NodePool: "workers"}}},
		Status: swarm.NodeStatus{State: swarm.NodeStateReady},
		Description: swarm.NodeDescription{Resources: swarm.Resources{NanoCPUs: 1e9, MemoryBytes: 1 << 30},
			Engine: swarm.EngineDescription{Labels: map[string]string{NodeMachine: "workers-a1", NodePool: "ignored"}}}}
	now := time.Now()
	task := func(id, svc, node string, desired, state swarm.TaskState, errText string) swarm.Task {
		return swarm.Task{ID: id, ServiceID: svc, NodeID: node, DesiredState: desired,
			Status: swarm.TaskStatus{State: state, Err: errText, Timestamp: now}}
	}
	f.tasks = []swarm.Task{
		task("t1", "svc-demo", "n2", swarm.TaskStateRunning, swarm.TaskStateRunning, ""),
		task("t2", "svc-demo", "n2", swarm.TaskStateRunning, swarm.TaskStatePreparing, ""),
		task("t3", "svc-demo", "", swarm.TaskStateRunning, swarm.TaskStatePending, "no suitable node (insufficient resources on 2 nodes)"),
		task("t4", "svc-demo", "n2", swarm.TaskStateShutdown, swarm.TaskStateRunning, ""),              // being stopped: holds its room
		task("t8", "svc-demo", "n2", swarm.TaskStateShutdown, swarm.TaskStateShutdown, ""),             // stopped: gone
		task("t9", "svc-demo", "", swarm.TaskStateShutdown, swarm.TaskStatePending, ""),                // never placed: gone
		task("t10", "svc-demo", "n2", swarm.TaskStateRemove, swarm.TaskStateStarting, ""),              // scaled in while starting
		task("t5", "svc-demo", "n2", swarm.TaskStateRunning, swarm.TaskStateRejected, "No such image"), // ended, replacement coming
		task("t6", "svc-agent", "n1", swarm.TaskStateRunning, swarm.TaskStateRunning, ""),
		task("t7", "svc-gone", "n1", swarm.TaskStateRunning, swarm.TaskStateRunning, ""),
	}
	st, err := o.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Tasks) != 4 {
		t.Fatalf("tasks = %+v", st.Tasks)
	}
	// Swarm's scheduler counts a task's reservation on its node until its
	// observed state passes running, whatever its desired state.
	if len(st.Stopping) != 2 || st.Stopping[0].ID != "t10" || st.Stopping[1].ID != "t4" {
		t.Fatalf("stopping = %+v", st.Stopping)
	}
	if r := st.Reserved()["n2"]; r.MilliCPU != 4*400 {
		t.Errorf("n2 reserved %v, want t1, t2, t4 and t10's", r)
	}
	want := map[string]cluster.TaskState{"t1": cluster.TaskRunning, "t2": cluster.TaskStarting, "t3": cluster.TaskPending, "t6": cluster.TaskRunning}
	for _, tk := range st.Tasks {
		if want[tk.ID] != tk.State {
			t.Errorf("task %s: state %s, want %s", tk.ID, tk.State, want[tk.ID])
		}
		if tk.ID == "t3" && !tk.PendingForResources() {
			t.Errorf("t3 should wait for resources: %q", tk.Reason)
		}
		if tk.Service == "demo" && tk.Reservation.MilliCPU != 400 {
			t.Errorf("task %s reservation %v", tk.ID, tk.Reservation)
		}
		if tk.ID == "t6" && !tk.Global {
			t.Errorf("agent task should be global")
		}
	}
	var demo, agent cluster.Service
	for _, s := range st.Services {
		switch s.Name {
		case "demo":
			demo = s
		case "agent":
			agent = s
		}
	}
	if demo.Desired != 3 || len(demo.Pools) != 1 || demo.Pools[0] != "workers" || demo.Limit.MilliCPU != 500 {
		t.Errorf("demo = %+v", demo)
	}
	if !agent.Global || agent.Desired != 1 {
		t.Errorf("agent = %+v", agent)
	}
	for _, n := range st.Nodes {
		switch n.ID {
		case "n1":
			if !n.Manager || !n.Ready || n.Capacity.MilliCPU != 2000 || n.Addr != "10.213.0.1" {
				t.Errorf("n1 = %+v", n)
			}
		case "n2":
			// Node labels win over the engine's; the machine comes from the engine labels.
			if n.Pool != "workers" || n.Machine != "workers-a1" || n.Availability != cluster.Drain || n.Capacity.Memory != 1<<30 {
				t.Errorf("n2 = %+v", n)
			}
		}
	}
}

func TestNodeLifecycle(t *testing.T) {
	f := newFake()
	o := New(f, Options{})
	ctx := context.Background()
	f.nodes["w"] = &swarm.Node{ID: "w", Spec: swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityActive},
		Status: swarm.NodeStatus{State: swarm.NodeStateReady}}
	if err := o.RemoveNode(ctx, "w"); !errors.Is(err, ErrNotDrained) {
		t.Fatalf("removing a serving node: err = %v", err)
	}
	f.conflicts = 1
	if err := o.Drain(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	if f.nodes["w"].Spec.Availability != swarm.NodeAvailabilityPause {
		t.Fatal("not paused")
	}
	if err := o.Drain(ctx, "w"); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := o.LabelNode(ctx, "w", map[string]string{NodePool: "workers"}); err != nil || f.nodes["w"].Spec.Labels[NodePool] != "workers" {
		t.Fatalf("label: %v %v", err, f.nodes["w"].Spec.Labels)
	}
	if f.nodes["w"].Spec.Availability != swarm.NodeAvailabilityPause {
		t.Fatal("labelling lost the availability")
	}
	if err := o.RemoveNode(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	if err := o.RemoveNode(ctx, "w"); err != nil {
		t.Fatalf("missing node must not be an error: %v", err)
	}
	if err := o.Activate(ctx, "w"); err == nil {
		t.Fatal("activating a missing node should fail")
	}
	if err := o.Remove(ctx, "nothing"); err != nil {
		t.Fatalf("removing a missing service: %v", err)
	}
}

func TestParseReason(t *testing.T) {
	rs := ParseReason("no suitable node (scheduling constraints not satisfied on 1 node; insufficient resources on 2 nodes; 1 node not available for new tasks; host-mode port already in use on 3 nodes)")
	want := []struct {
		k ReasonKind
		n int
	}{{ReasonConstraint, 1}, {ReasonResources, 2}, {ReasonUnavailable, 1}, {ReasonPort, 3}}
	if len(rs) != len(want) {
		t.Fatalf("reasons = %+v", rs)
	}
	for i, w := range want {
		if rs[i].Kind != w.k || rs[i].Nodes != w.n {
			t.Errorf("reason %d = %+v, want %v on %d", i, rs[i], w.k, w.n)
		}
	}
	if rs := ParseReason("no suitable node (no nodes)"); len(rs) != 1 || rs[0].Kind != ReasonNoNodes {
		t.Errorf("no nodes: %+v", rs)
	}
	if rs := ParseReason(""); rs != nil {
		t.Errorf("empty: %+v", rs)
	}
}

func TestConstraintsRoundTrip(t *testing.T) {
	known := []string{"small", "big", "gpu"}
	for _, pools := range [][]string{{"big"}, {"small", "big"}} {
		got := PoolsOf(Constraints(pools, known), known)
		if strings.Join(got, ",") != strings.Join(pools, ",") {
			t.Errorf("pools %v -> %v -> %v", pools, Constraints(pools, known), got)
		}
	}
	if got := PoolsOf([]string{"node.role == worker"}, known); got != nil {
		t.Errorf("no pool constraint: %v", got)
	}
}

func TestAppsFromLabels(t *testing.T) {
	svc := cluster.Service{Name: "shop", Image: "shop:1", Pools: []string{"workers"},
		Reservation: cluster.Resources{MilliCPU: 250, Memory: 64 << 20}, Limit: cluster.Resources{MilliCPU: 500},
		Labels: map[string]string{LabelEnable: "true", LabelMin: "2", LabelMax: "8", LabelCPUTarget: "60%", LabelWindow: "30s", LabelCooldownDown: "1m"}}
	a, ok, err := AppFromLabels(svc)
	if !ok || err != nil {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if a.Replicas.Min != 2 || a.Replicas.Max != 8 || a.Pools[0] != "workers" || len(a.Policies) != 1 ||
		a.Policies[0].Metric != "cpu" || a.Policies[0].Target != 60 || a.Policies[0].Window.D() != 30*time.Second ||
		a.Cooldown.Down.D() != time.Minute || a.Resources.Reservations.CPUs != 0.25 || a.Policies[0].Tolerance == nil {
		t.Errorf("app = %+v", a)
	}
	bad := svc
	bad.Labels = map[string]string{LabelEnable: "true", LabelMin: "three", LabelMax: "1", LabelRPSTarget: "-4"}
	_, ok, err = AppFromLabels(bad)
	if !ok || !errors.Is(err, ErrLabels) || !strings.Contains(err.Error(), LabelMin) || !strings.Contains(err.Error(), LabelRPSTarget) {
		t.Errorf("bad labels: ok=%v err=%v", ok, err)
	}
	off := svc
	off.Labels = map[string]string{LabelCPUTarget: "50"}
	if _, ok, _ := AppFromLabels(off); ok {
		t.Error("a service without hoist.enable opted in")
	}
	st := cluster.State{Services: []cluster.Service{svc, bad, off}}
	if apps := AppsFromLabels(st); len(apps) != 1 || apps[0].Name != "shop" {
		t.Errorf("AppsFromLabels = %+v", apps)
	}
}

func TestWarningsOncePerCondition(t *testing.T) {
	f := newFake()
	rec := &recorder{}
	now := time.Now()
	o := New(f, Options{Events: rec, Now: func() time.Time { return now }})
	a := demoApp()
	a.Resources.Reservations = config.Shape{}
	if err := o.Deploy(context.Background(), a, 1); err != nil {
		t.Fatal(err)
	}
	unplaced := swarm.Task{ID: "p", ServiceID: "svc-demo", DesiredState: swarm.TaskStateRunning,
		Status: swarm.TaskStatus{State: swarm.TaskStatePending, Err: "no suitable node (scheduling constraints not satisfied on 1 node)"}}
	f.tasks = []swarm.Task{unplaced}
	// No node of the pool yet: its machines are on their way, no warning.
	o.State(context.Background())
	for _, e := range rec.evs {
		if strings.Contains(e.Reason, "cannot be placed") {
			t.Fatalf("warned while the pool has no node: %s", e.Reason)
		}
	}
	f.nodes["w1"] = &swarm.Node{ID: "w1", Spec: swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityActive,
		Annotations: swarm.Annotations{Labels: map[string]string{NodePool: "workers"}}}, Status: swarm.NodeStatus{State: swarm.NodeStateReady}}
	f.tasks = []swarm.Task{
		{ID: "p", ServiceID: "svc-demo", DesiredState: swarm.TaskStateRunning,
			Status: swarm.TaskStatus{State: swarm.TaskStatePending, Err: "no suitable node (scheduling constraints not satisfied on 2 nodes)"}},
		{ID: "r", ServiceID: "svc-demo", NodeID: "n9", DesiredState: swarm.TaskStateShutdown,
			Status: swarm.TaskStatus{State: swarm.TaskStateRejected, Err: "No such image: hoist/nope:latest", Timestamp: now.Add(-time.Second)}},
	}
	for i := 0; i < 3; i++ {
		if _, err := o.State(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var texts []string
	for _, e := range rec.evs {
		if e.Kind != events.AppWarning || e.App != "demo" {
			t.Errorf("event %+v", e)
		}
		texts = append(texts, e.Reason)
	}
	all := strings.Join(texts, "\n")
	if len(rec.evs) != 3 || !strings.Contains(all, "no CPU or memory reservation") ||
		!strings.Contains(all, "scheduling constraints") || !strings.Contains(all, "No such image") {
		t.Fatalf("want 3 warnings, once each; got:\n%s", all)
	}
	// Cleared, then back: news again.
	f.tasks = nil
	o.State(context.Background())
	f.tasks = []swarm.Task{{ID: "r2", ServiceID: "svc-demo", DesiredState: swarm.TaskStateShutdown,
		Status: swarm.TaskStatus{State: swarm.TaskStateRejected, Err: "No such image: hoist/nope:latest", Timestamp: now}}}
	o.State(context.Background())
	if len(rec.evs) != 4 {
		t.Errorf("a failure that came back should be reported again: %d events", len(rec.evs))
	}
}
