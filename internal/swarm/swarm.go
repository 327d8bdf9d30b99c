// Package swarm is engine.Orchestrator on Docker Swarm, through the Docker
// Engine API (github.com/moby/moby/client, negotiating the API version down to
// the daemon's, e.g. 1.41 for Debian 12's Docker 20.10).
//
// The mapping, in short (docs/swarm.md has it in full):
//   - an app is a replicated service of the same name, labelled hoist.managed=true
//     and hoist.app=NAME, attached to its own attachable overlay network, with
//     endpoint mode dnsrr (the VIP needs IPVS, which not every kernel has);
//   - a pool is a node label: hoist.pool=POOL, and the service is constrained
//     with node.labels.hoist.pool==POOL;
//   - a machine is the node labelled hoist.machine=NAME.
package swarm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
)

var _ engine.Orchestrator = (*Orchestrator)(nil)

// Labels hoist reads and writes on services and nodes.
const (
	LabelManaged  = cluster.LabelManaged // service: hoist deployed it (removed when no app is behind it)
	LabelKeep     = cluster.LabelKeep    // service: "true" keeps it running once no app is behind it
	LabelApp      = "hoist.app"          // service and its containers: the app's name
	LabelPools    = "hoist.pools"        // service: the app's pools, comma separated
	LabelNetwork  = "hoist.network"      // app label: overlay network to attach to (default hoist-NAME)
	LabelEndpoint = "hoist.endpoint"     // app label: "vip" to keep Swarm's VIP (default dnsrr)
	LabelMetrics  = "hoist.metrics.port"
	// LabelOrder is set on a service whose update order a drain made
	// start-first: the order it had ("none": no update config), restored
	// once no drain pins it any more.
	LabelOrder  = "hoist.drain.order"
	NodePool    = "hoist.pool"    // node: the pool the machine belongs to
	NodeMachine = "hoist.machine" // node: the provider's name of the machine
)

// Errors callers may branch on.
var (
	ErrNoService  = errors.New("no such service")
	ErrGlobal     = errors.New("global service has no replica count")
	ErrNotDrained = errors.New("node is ready and not drained")
)

// API is the part of the Docker Engine API the orchestrator uses;
// *client.Client implements it, tests use a fake.
type API interface {
	ServiceList(ctx context.Context, o client.ServiceListOptions) (client.ServiceListResult, error)
	ServiceInspect(ctx context.Context, id string, o client.ServiceInspectOptions) (client.ServiceInspectResult, error)
	ServiceCreate(ctx context.Context, o client.ServiceCreateOptions) (client.ServiceCreateResult, error)
	ServiceUpdate(ctx context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error)
	ServiceRemove(ctx context.Context, id string, o client.ServiceRemoveOptions) (client.ServiceRemoveResult, error)
	TaskList(ctx context.Context, o client.TaskListOptions) (client.TaskListResult, error)
	NodeList(ctx context.Context, o client.NodeListOptions) (client.NodeListResult, error)
	NodeInspect(ctx context.Context, id string, o client.NodeInspectOptions) (client.NodeInspectResult, error)
	NodeUpdate(ctx context.Context, id string, o client.NodeUpdateOptions) (client.NodeUpdateResult, error)
	NodeRemove(ctx context.Context, id string, o client.NodeRemoveOptions) (client.NodeRemoveResult, error)
	NetworkInspect(ctx context.Context, id string, o client.NetworkInspectOptions) (client.NetworkInspectResult, error)
	NetworkCreate(ctx context.Context, name string, o client.NetworkCreateOptions) (client.NetworkCreateResult, error)
}

var _ API = (*client.Client)(nil)

// Recorder receives the orchestrator's warnings (engine.Recorder fits).
type Recorder interface {
	Record(e events.Event) events.Event
}

// Options configure an Orchestrator.
type Options struct {
	// Pools are the descriptor's pool names: an app on several pools is
	// constrained away from the others (Swarm constraints cannot say "a or b").
	Pools []string
	// Events receives warnings: managed services without reservations, tasks
	// that fail or cannot be placed for reasons other than room. Optional.
	Events Recorder
	Logger *slog.Logger
	// Now is the clock for event times (default time.Now).
	Now func() time.Time
}

// Orchestrator drives Docker Swarm. Safe for concurrent use.
type Orchestrator struct {
	api  API
	opt  Options
	log  *slog.Logger
	mu   sync.Mutex
	warn map[string]string // subject -> last warning key (one event per distinct warning)
}

// Dial connects to a Docker daemon (host "" means DOCKER_HOST or the default
// socket), negotiating the API version.
func Dial(host string) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return c, nil
}

// New returns an orchestrator on api.
func New(api API, opt Options) *Orchestrator {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Orchestrator{api: api, opt: opt, log: opt.Logger, warn: map[string]string{}}
}

// State implements engine.Orchestrator.
func (o *Orchestrator) State(ctx context.Context) (cluster.State, error) {
	var st cluster.State
	svcs, err := o.api.ServiceList(ctx, client.ServiceListOptions{})
	if err != nil {
		return st, fmt.Errorf("list services: %w", err)
	}
	tasks, err := o.api.TaskList(ctx, client.TaskListOptions{})
	if err != nil {
		return st, fmt.Errorf("list tasks: %w", err)
	}
	nodes, err := o.api.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return st, fmt.Errorf("list nodes: %w", err)
	}
	st = convert(svcs.Items, tasks.Items, nodes.Items, o.opt.Pools)
	if o.opt.Events != nil {
		o.warnings(st, svcs.Items, tasks.Items)
	}
	return st, nil
}

// convert builds the engine's view from Swarm's objects.
func convert(svcs []swarm.Service, tasks []swarm.Task, nodes []swarm.Node, pools []string) cluster.State {
	var st cluster.State
	byID := map[string]*cluster.Service{}
	for _, s := range svcs {
		cs := serviceOf(s, pools)
		st.Services = append(st.Services, cs)
	}
	sort.Slice(st.Services, func(i, j int) bool { return st.Services[i].Name < st.Services[j].Name })
	for i := range st.Services {
		byID[st.Services[i].ID] = &st.Services[i]
	}
	for _, t := range tasks {
		svc := byID[t.ServiceID]
		if svc == nil {
			continue
		}
		ct, live := taskOf(t, svc)
		switch {
		case !live:
		case t.DesiredState == swarm.TaskStateRunning:
			st.Tasks = append(st.Tasks, ct)
		case ct.NodeID != "":
			// Told to stop, not stopped: its node's room is still taken.
			st.Stopping = append(st.Stopping, ct)
		}
	}
	for _, ts := range [][]cluster.Task{st.Tasks, st.Stopping} {
		sort.Slice(ts, func(i, j int) bool {
			if ts[i].Service != ts[j].Service {
				return ts[i].Service < ts[j].Service
			}
			return ts[i].ID < ts[j].ID
		})
	}
	for i := range st.Services {
		if st.Services[i].Global {
			n := 0
			for _, t := range st.Tasks {
				if t.Service == st.Services[i].Name {
					n++
				}
			}
			st.Services[i].Desired = n
		}
	}
	for _, n := range nodes {
		st.Nodes = append(st.Nodes, nodeOf(n))
	}
	sort.Slice(st.Nodes, func(i, j int) bool { return st.Nodes[i].ID < st.Nodes[j].ID })
	return st
}

func serviceOf(s swarm.Service, pools []string) cluster.Service {
	spec := s.Spec
	cs := cluster.Service{Name: spec.Name, ID: s.ID, Labels: copyMap(spec.Labels)}
	if c := spec.TaskTemplate.ContainerSpec; c != nil {
		cs.Image = c.Image
	}
	cs.Reservation, cs.Limit = resourcesOf(spec.TaskTemplate.Resources)
	switch {
	case spec.Mode.Replicated != nil && spec.Mode.Replicated.Replicas != nil:
		cs.Desired = int(*spec.Mode.Replicated.Replicas)
	case spec.Mode.Global != nil:
		cs.Global = true
	}
	if v := spec.Labels[LabelPools]; v != "" {
		cs.Pools = splitList(v)
	} else if spec.TaskTemplate.Placement != nil {
		cs.Pools = PoolsOf(spec.TaskTemplate.Placement.Constraints, pools)
	}
	return cs
}

func resourcesOf(r *swarm.ResourceRequirements) (res, lim cluster.Resources) {
	if r == nil {
		return
	}
	if r.Reservations != nil {
		res = cluster.Resources{MilliCPU: r.Reservations.NanoCPUs / 1e6, Memory: r.Reservations.MemoryBytes}
	}
	if r.Limits != nil {
		lim = cluster.Resources{MilliCPU: r.Limits.NanoCPUs / 1e6, Memory: r.Limits.MemoryBytes}
	}
	return
}

// taskOf maps a Swarm task whose desired state is running; live is false for
// one that already ended (its replacement is on its way).
func taskOf(t swarm.Task, svc *cluster.Service) (ct cluster.Task, live bool) {
	ct = cluster.Task{ID: t.ID, Service: svc.Name, NodeID: t.NodeID, Since: t.Status.Timestamp, Global: svc.Global}
	ct.Reservation = svc.Reservation
	if t.Spec.Resources != nil {
		ct.Reservation, _ = resourcesOf(t.Spec.Resources)
	}
	switch t.Status.State {
	case swarm.TaskStateRunning:
		ct.State = cluster.TaskRunning
	case swarm.TaskStateNew, swarm.TaskStateAllocated, swarm.TaskStatePending, swarm.TaskStateAssigned,
		swarm.TaskStateAccepted, swarm.TaskStatePreparing, swarm.TaskStateReady, swarm.TaskStateStarting:
		if t.NodeID == "" {
			ct.State = cluster.TaskPending
			ct.Reason = t.Status.Err
		} else {
			ct.State = cluster.TaskStarting
		}
	default:
		return ct, false
	}
	return ct, true
}

func nodeOf(n swarm.Node) cluster.Node {
	cn := cluster.Node{
		ID: n.ID, Hostname: n.Description.Hostname,
		Manager:      n.Spec.Role == swarm.NodeRoleManager,
		Ready:        n.Status.State == swarm.NodeStateReady,
		Availability: cluster.Availability(n.Spec.Availability),
		Capacity:     cluster.Resources{MilliCPU: n.Description.Resources.NanoCPUs / 1e6, Memory: n.Description.Resources.MemoryBytes},
		Addr:         n.Status.Addr,
	}
	// Node labels are set through the manager after the join; the engine
	// labels of the machine's own dockerd say the same from the first moment.
	cn.Machine = firstLabel(NodeMachine, n.Spec.Labels, n.Description.Engine.Labels)
	cn.Pool = firstLabel(NodePool, n.Spec.Labels, n.Description.Engine.Labels)
	return cn
}

func firstLabel(k string, maps ...map[string]string) string {
	for _, m := range maps {
		if v := m[k]; v != "" {
			return v
		}
	}
	return ""
}

// PoolConstraint is the placement constraint that keeps tasks on a pool.
func PoolConstraint(pool string) string { return "node.labels." + NodePool + "==" + pool }

// PoolsOf reads an app's pools back from its placement constraints: the
// pool of a == constraint, or every known pool not excluded by != ones.
func PoolsOf(constraints []string, known []string) []string {
	var eq []string
	excluded := map[string]bool{}
	any := false
	for _, c := range constraints {
		key, op, val, ok := parseConstraint(c)
		if !ok || key != "node.labels."+NodePool {
			continue
		}
		any = true
		if op == "==" {
			eq = append(eq, val)
		} else {
			excluded[val] = true
		}
	}
	if len(eq) > 0 {
		return eq[:1] // Swarm ANDs constraints: two different == match nothing
	}
	if !any {
		return nil
	}
	var out []string
	for _, p := range known {
		if !excluded[p] {
			out = append(out, p)
		}
	}
	return out
}

func parseConstraint(c string) (key, op, val string, ok bool) {
	for _, o := range []string{"==", "!="} {
		if i := strings.Index(c, o); i >= 0 {
			return strings.TrimSpace(c[:i]), o, strings.TrimSpace(c[i+2:]), true
		}
	}
	return "", "", "", false
}

// Constraints places an app on its pools. One pool: node.labels.hoist.pool==P.
// Several: Swarm cannot say "a or b", so the service is kept off the manager
// and off every other known pool (node.labels.hoist.pool!=Q for each).
func Constraints(pools, known []string) []string {
	switch len(pools) {
	case 0:
		return nil
	case 1:
		return []string{PoolConstraint(pools[0])}
	}
	out := []string{"node.role==worker"}
	in := map[string]bool{}
	for _, p := range pools {
		in[p] = true
	}
	for _, p := range known {
		if !in[p] {
			out = append(out, "node.labels."+NodePool+"!="+p)
		}
	}
	return out
}

// Scale implements engine.Orchestrator: a service update carrying the
// version it read, retried when another writer got there first.
// Tasks left pending from before the update are replaced (renewStranded).
func (o *Orchestrator) Scale(ctx context.Context, name string, replicas int) error {
	if err := o.updateService(ctx, name, replicasTo(name, replicas)); err != nil {
		return err
	}
	return o.renewStranded(ctx, name, replicas)
}

// conflictRetries bounds retries of an update that lost a race.
const conflictRetries = 5

// updateService applies change to the service's spec; a change returning
// errUnchanged writes nothing.
func (o *Orchestrator) updateService(ctx context.Context, name string, change func(*swarm.ServiceSpec) error) error {
	var last error
	for attempt := 0; attempt < conflictRetries; attempt++ {
		res, err := o.api.ServiceInspect(ctx, name, client.ServiceInspectOptions{})
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				return fmt.Errorf("service %s: %w", name, ErrNoService)
			}
			return fmt.Errorf("inspect service %s: %w", name, err)
		}
		spec := res.Service.Spec
		if err := change(&spec); errors.Is(err, errUnchanged) {
			return nil
		} else if err != nil {
			return err
		}
		_, err = o.api.ServiceUpdate(ctx, res.Service.ID, client.ServiceUpdateOptions{Version: res.Service.Version, Spec: spec})
		if err == nil {
			return nil
		}
		if !IsConflict(err) {
			return fmt.Errorf("update service %s: %w", name, err)
		}
		last = err
		o.log.Debug("service update conflict, retrying", "service", name, "attempt", attempt+1)
		if err := sleep(ctx, time.Duration(attempt+1)*100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("update service %s: still out of sequence after %d tries: %w", name, conflictRetries, last)
}

// IsConflict reports whether err is Swarm refusing an update made on a stale
// version ("update out of sequence").
func IsConflict(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "out of sequence") || cerrdefs.IsConflict(err))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// NetworkName is the overlay network an app's service is attached to.
func NetworkName(app config.App) string {
	if v := app.Labels[LabelNetwork]; v != "" {
		return v
	}
	return "hoist-" + app.Name
}

// Spec is the service spec hoist deploys for app.
func Spec(app config.App, replicas int, known []string) swarm.ServiceSpec {
	labels := copyMap(app.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelManaged] = "true"
	labels[LabelApp] = app.Name
	if len(app.Pools) > 0 {
		labels[LabelPools] = strings.Join(app.Pools, ",")
	}
	clabels := map[string]string{LabelApp: app.Name}
	if app.Port > 0 {
		clabels[LabelMetrics] = fmt.Sprint(app.Port)
	}
	n := uint64(max(replicas, 0))
	r := app.Resources
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: app.Name, Labels: labels},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: app.Image, Env: append([]string(nil), app.Env...),
				Args: append([]string(nil), app.Args...), Labels: clabels},
			Resources: &swarm.ResourceRequirements{
				Limits:       &swarm.Limit{NanoCPUs: cluster.CPUs(r.Limits.CPUs) * 1e6, MemoryBytes: int64(r.Limits.Memory)},
				Reservations: &swarm.Resources{NanoCPUs: cluster.CPUs(r.Reservations.CPUs) * 1e6, MemoryBytes: int64(r.Reservations.Memory)},
			},
			Placement: &swarm.Placement{Constraints: Constraints(app.Pools, known)},
			Networks:  []swarm.NetworkAttachmentConfig{{Target: NetworkName(app), Aliases: []string{app.Name}}},
		},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR},
		// Make before break, in a rolling update as in a drain (Drain): a
		// replica stops once its replacement runs. No published port can
		// clash on one node (the balancer, which publishes in host mode,
		// sets stop-first); the price is room for one more task meanwhile.
		UpdateConfig: &swarm.UpdateConfig{Parallelism: 1, Order: swarm.UpdateOrderStartFirst},
	}
	if strings.EqualFold(app.Labels[LabelEndpoint], "vip") {
		spec.EndpointSpec.Mode = swarm.ResolutionModeVIP
	}
	return spec
}

// Deploy implements engine.Orchestrator: create the service, or update an
// existing one to the descriptor (keeping its current replica count, which is
// the engine's to change).
func (o *Orchestrator) Deploy(ctx context.Context, app config.App, replicas int) error {
	if app.Image == "" {
		return fmt.Errorf("deploy %s: no image", app.Name)
	}
	if err := o.ensureNetwork(ctx, NetworkName(app)); err != nil {
		return fmt.Errorf("deploy %s: %w", app.Name, err)
	}
	_, err := o.api.ServiceInspect(ctx, app.Name, client.ServiceInspectOptions{})
	switch {
	case err == nil:
		return o.updateService(ctx, app.Name, func(spec *swarm.ServiceSpec) error {
			next := Spec(app, 0, o.opt.Pools)
			next.Mode = spec.Mode
			KeepDrain(*spec, &next) // a drain in progress must go on
			*spec = next
			return nil
		})
	case cerrdefs.IsNotFound(err):
		res, err := o.api.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: Spec(app, replicas, o.opt.Pools)})
		if err != nil {
			return fmt.Errorf("create service %s: %w", app.Name, err)
		}
		for _, w := range res.Warnings {
			o.log.Warn("service create", "service", app.Name, "warning", w)
		}
		return nil
	default:
		return fmt.Errorf("inspect service %s: %w", app.Name, err)
	}
}

func (o *Orchestrator) ensureNetwork(ctx context.Context, name string) error {
	_, err := o.api.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect network %s: %w", name, err)
	}
	_, err = o.api.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "overlay", Attachable: true,
		Labels: map[string]string{LabelManaged: "true"}})
	if err != nil && !cerrdefs.IsConflict(err) && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("create network %s: %w", name, err)
	}
	return nil
}

// Remove implements engine.Orchestrator.
func (o *Orchestrator) Remove(ctx context.Context, name string) error {
	_, err := o.api.ServiceRemove(ctx, name, client.ServiceRemoveOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove service %s: %w", name, err)
	}
	return nil
}

// Drain implements engine.Orchestrator, make-before-break. Swarm's own drain
// stops a node's tasks first and starts their replacements only once they
// have stopped (swarmkit restart.Supervisor.Restart waits for the old task),
// so every drain took the moved replicas' capacity away for a stop and a
// start. Instead the node is paused (no new task goes there, its tasks stay)
// and every replicated service with a task on it gets the constraint
// node.id!=ID and a start-first update order: swarmkit's updater then
// replaces exactly the tasks on that node (IsTaskDirty: a task whose node
// still satisfies changed constraints is not dirty) and, start-first, shuts
// each one down only once its replacement runs elsewhere. Global tasks stay
// until RemoveNode. Idempotent: the engine retries a drain that failed.
func (o *Orchestrator) Drain(ctx context.Context, id string) error {
	if err := o.setAvailability(ctx, id, swarm.NodeAvailabilityPause); err != nil {
		return err
	}
	res, err := o.api.TaskList(ctx, client.TaskListOptions{Filters: client.Filters{}.Add("node", id).Add("desired-state", "running")})
	if err != nil {
		return fmt.Errorf("drain node %s: list tasks: %w", id, err)
	}
	svcs := map[string]bool{}
	for _, t := range res.Items {
		if t.NodeID == id && t.DesiredState == swarm.TaskStateRunning {
			svcs[t.ServiceID] = true
		}
	}
	ids := make([]string, 0, len(svcs))
	for s := range svcs {
		ids = append(ids, s)
	}
	sort.Strings(ids)
	for _, s := range ids {
		err := o.updateService(ctx, s, func(spec *swarm.ServiceSpec) error {
			if spec.Mode.Replicated == nil {
				return errUnchanged // global tasks belong to their node; jobs are rerun by an update
			}
			changed := addPin(spec, id)
			changed = startFirst(spec) || changed
			if !changed {
				return errUnchanged
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrNoService) {
			return fmt.Errorf("drain node %s: %w", id, err)
		}
	}
	return nil
}

// Activate implements engine.Orchestrator: the node takes tasks again and
// no service is kept off it any more.
func (o *Orchestrator) Activate(ctx context.Context, id string) error {
	if err := o.setAvailability(ctx, id, swarm.NodeAvailabilityActive); err != nil {
		return err
	}
	return o.unpin(ctx, id)
}

// startFirst makes spec's update order start-first, recording the order it
// had in LabelOrder to be restored once no drain pins it (start-first left on
// a service with host-mode ports would hold its next update: the port is
// taken on the replaced task's node). It reports whether spec changed.
func startFirst(spec *swarm.ServiceSpec) bool {
	u := spec.UpdateConfig
	if u != nil && u.Order == swarm.UpdateOrderStartFirst {
		return false
	}
	was := "none"
	if u == nil {
		spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1}
	} else {
		was = string(cmp.Or(u.Order, swarm.UpdateOrderStopFirst))
	}
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	spec.Labels[LabelOrder] = was
	spec.UpdateConfig.Order = swarm.UpdateOrderStartFirst
	return true
}

// KeepDrain carries the drains in progress on a service from its current spec
// to next, a spec rebuilt from the descriptor (a reload): their node.id!=
// constraints, and a start-first order until they end (the order next gives
// is the one restored then). Without it a reload during a drain dropped the
// pin, and the move stopped until the drain timeout.
func KeepDrain(cur swarm.ServiceSpec, next *swarm.ServiceSpec) {
	keep := pins(cur)
	if len(keep) == 0 {
		return
	}
	// next may share its placement, update config and labels with a spec
	// the caller reuses (a retry): change copies.
	var p swarm.Placement
	if next.TaskTemplate.Placement != nil {
		p = *next.TaskTemplate.Placement
	}
	p.Constraints = append(slices.Clip(p.Constraints), keep...)
	next.TaskTemplate.Placement = &p
	if next.UpdateConfig != nil {
		u := *next.UpdateConfig
		next.UpdateConfig = &u
	}
	next.Labels = maps.Clone(next.Labels)
	startFirst(next)
}

// PinConstraint is the placement constraint Drain adds to the services of a
// node it drains, and which RemoveNode and Activate take away again.
func PinConstraint(nodeID string) string { return "node.id!=" + nodeID }

func placementOf(spec *swarm.ServiceSpec) *swarm.Placement {
	if spec.TaskTemplate.Placement == nil {
		spec.TaskTemplate.Placement = &swarm.Placement{}
	}
	return spec.TaskTemplate.Placement
}

func addPin(spec *swarm.ServiceSpec, id string) bool {
	p := placementOf(spec)
	if slices.Contains(p.Constraints, PinConstraint(id)) {
		return false
	}
	p.Constraints = append(p.Constraints, PinConstraint(id))
	return true
}

// unpin removes node.id!=ID from every service that has it, and restores the
// update order Drain changed once no other drain pins the service. The tasks
// the constraint moved are not touched: their node matches the new
// constraints.
func (o *Orchestrator) unpin(ctx context.Context, id string) error {
	res, err := o.api.ServiceList(ctx, client.ServiceListOptions{})
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	pin := PinConstraint(id)
	for _, s := range res.Items {
		if p := s.Spec.TaskTemplate.Placement; p == nil || !slices.Contains(p.Constraints, pin) {
			continue
		}
		err := o.updateService(ctx, s.ID, func(spec *swarm.ServiceSpec) error {
			p := placementOf(spec)
			n := len(p.Constraints)
			p.Constraints = slices.DeleteFunc(p.Constraints, func(c string) bool { return c == pin })
			if len(p.Constraints) == n {
				return errUnchanged
			}
			if was, ok := spec.Labels[LabelOrder]; ok && len(pins(*spec)) == 0 {
				delete(spec.Labels, LabelOrder)
				switch {
				case was == "none":
					spec.UpdateConfig = nil
				case spec.UpdateConfig != nil:
					spec.UpdateConfig.Order = swarm.UpdateOrder(was)
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrNoService) {
			return fmt.Errorf("unpin node %s: %w", id, err)
		}
	}
	return nil
}

// pins returns the node.id!= constraints of spec, to keep across a rebuild.
func pins(spec swarm.ServiceSpec) []string {
	var out []string
	if p := spec.TaskTemplate.Placement; p != nil {
		for _, c := range p.Constraints {
			if key, op, _, ok := parseConstraint(c); ok && key == "node.id" && op == "!=" {
				out = append(out, c)
			}
		}
	}
	return out
}

func (o *Orchestrator) setAvailability(ctx context.Context, id string, a swarm.NodeAvailability) error {
	return o.updateNode(ctx, id, func(spec *swarm.NodeSpec) bool {
		if spec.Availability == a {
			return false
		}
		spec.Availability = a
		return true
	})
}

// LabelNode sets labels on a node through the manager (node labels can only
// be written there).
func (o *Orchestrator) LabelNode(ctx context.Context, id string, labels map[string]string) error {
	return o.updateNode(ctx, id, func(spec *swarm.NodeSpec) bool {
		changed := false
		if spec.Labels == nil {
			spec.Labels = map[string]string{}
		}
		for k, v := range labels {
			if spec.Labels[k] != v {
				spec.Labels[k] = v
				changed = true
			}
		}
		return changed
	})
}

func (o *Orchestrator) updateNode(ctx context.Context, id string, change func(*swarm.NodeSpec) bool) error {
	var last error
	for attempt := 0; attempt < conflictRetries; attempt++ {
		res, err := o.api.NodeInspect(ctx, id, client.NodeInspectOptions{})
		if err != nil {
			return fmt.Errorf("inspect node %s: %w", id, err)
		}
		spec := res.Node.Spec
		if !change(&spec) {
			return nil
		}
		_, err = o.api.NodeUpdate(ctx, res.Node.ID, client.NodeUpdateOptions{Version: res.Node.Version, Spec: spec})
		if err == nil {
			return nil
		}
		if !IsConflict(err) {
			return fmt.Errorf("update node %s: %w", id, err)
		}
		last = err
		if err := sleep(ctx, time.Duration(attempt+1)*100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("update node %s: still out of sequence after %d tries: %w", id, conflictRetries, last)
}

// RemoveNode implements engine.Orchestrator. A node that is down, paused
// (Drain) or drained is removed with force (a worker that is still up must be
// forced out); a ready, active node is refused, as the simulator does, so a
// mistake never cuts a serving node out of the cluster. A paused node is set
// to drain first so that what is left on it (global tasks) is stopped. Then
// the node.id!= constraints Drain added are removed.
func (o *Orchestrator) RemoveNode(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	res, err := o.api.NodeInspect(ctx, id, client.NodeInspectOptions{})
	switch {
	case cerrdefs.IsNotFound(err):
		return o.unpin(ctx, id)
	case err != nil:
		return fmt.Errorf("inspect node %s: %w", id, err)
	}
	n := res.Node
	if n.Spec.Role == swarm.NodeRoleManager {
		return fmt.Errorf("remove node %s: it is a manager", id)
	}
	ready := n.Status.State == swarm.NodeStateReady
	if ready && n.Spec.Availability == swarm.NodeAvailabilityActive {
		return fmt.Errorf("remove node %s: %w", id, ErrNotDrained)
	}
	if ready && n.Spec.Availability == swarm.NodeAvailabilityPause {
		if err := o.setAvailability(ctx, id, swarm.NodeAvailabilityDrain); err != nil {
			return fmt.Errorf("remove node %s: %w", id, err)
		}
	}
	_, err = o.api.NodeRemove(ctx, id, client.NodeRemoveOptions{Force: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove node %s: %w", id, err)
	}
	return o.unpin(ctx, id)
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Manager is what a machine provider needs from the swarm manager: how to
// join, labelling the new node, and removing it. *Orchestrator implements it
// when its API also answers Info and SwarmInspect (*client.Client does).
type Manager interface {
	// JoinInfo returns the manager's address (host:port) and the worker token.
	JoinInfo(ctx context.Context) (addr, token string, err error)
	LabelNode(ctx context.Context, id string, labels map[string]string) error
	// ForgetNode removes a node whatever its state; missing is not an error.
	ForgetNode(ctx context.Context, id string) error
	// NodeOfMachine returns the IDs of the nodes labelled hoist.machine=name.
	NodeOfMachine(ctx context.Context, name string) ([]string, error)
}

var _ Manager = (*Orchestrator)(nil)

// managerAPI is the extra API a Manager needs.
type managerAPI interface {
	Info(ctx context.Context, o client.InfoOptions) (client.SystemInfoResult, error)
	SwarmInspect(ctx context.Context, o client.SwarmInspectOptions) (client.SwarmInspectResult, error)
}

// ErrNotManager is returned when the daemon hoist talks to is not a swarm manager.
var ErrNotManager = errors.New("the Docker daemon is not a swarm manager")

// JoinInfo implements Manager.
func (o *Orchestrator) JoinInfo(ctx context.Context) (string, string, error) {
	m, ok := o.api.(managerAPI)
	if !ok {
		return "", "", fmt.Errorf("join info: %w", errors.ErrUnsupported)
	}
	info, err := m.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", "", fmt.Errorf("docker info: %w", err)
	}
	sw := info.Info.Swarm
	if !sw.ControlAvailable {
		return "", "", fmt.Errorf("join info (swarm state %q): %w", sw.LocalNodeState, ErrNotManager)
	}
	addr := ""
	for _, p := range sw.RemoteManagers {
		if p.NodeID == sw.NodeID {
			addr = p.Addr
		}
	}
	if addr == "" {
		addr = sw.NodeAddr + ":2377"
	}
	s, err := m.SwarmInspect(ctx, client.SwarmInspectOptions{})
	if err != nil {
		return "", "", fmt.Errorf("swarm inspect: %w", err)
	}
	return addr, s.Swarm.JoinTokens.Worker, nil
}

// ForgetNode implements Manager.
func (o *Orchestrator) ForgetNode(ctx context.Context, id string) error {
	_, err := o.api.NodeRemove(ctx, id, client.NodeRemoveOptions{Force: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove node %s: %w", id, err)
	}
	return nil
}

// NodeOfMachine implements Manager.
func (o *Orchestrator) NodeOfMachine(ctx context.Context, name string) ([]string, error) {
	nodes, err := o.api.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var ids []string
	for _, n := range nodes.Items {
		if nodeOf(n).Machine == name {
			ids = append(ids, n.ID)
		}
	}
	return ids, nil
}
