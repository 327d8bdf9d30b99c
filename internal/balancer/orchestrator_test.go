package balancer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	mswarm "github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/swarm"
)

// fakeDocker keeps services and configs as Swarm would, as far as the
// balancer orchestrator can tell.
type fakeDocker struct {
	mu       sync.Mutex
	services map[string]mswarm.Service
	configs  map[string]mswarm.Config // by ID
	inUse    map[string]bool          // config names a task still uses
	conflict int                      // updates to refuse as out of sequence
	calls    []string
	seq      int
}

var _ DockerAPI = (*fakeDocker)(nil)

func newFakeDocker() *fakeDocker {
	return &fakeDocker{services: map[string]mswarm.Service{}, configs: map[string]mswarm.Config{}, inUse: map[string]bool{}}
}

func (f *fakeDocker) call(s string) { f.calls = append(f.calls, s) }

func (f *fakeDocker) ServiceInspect(_ context.Context, id string, _ client.ServiceInspectOptions) (client.ServiceInspectResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[id]
	if !ok {
		return client.ServiceInspectResult{}, cerrdefs.ErrNotFound
	}
	return client.ServiceInspectResult{Service: s}, nil
}

func (f *fakeDocker) ServiceCreate(_ context.Context, o client.ServiceCreateOptions) (client.ServiceCreateResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("create " + o.Spec.Name)
	f.services[o.Spec.Name] = mswarm.Service{ID: o.Spec.Name, Spec: o.Spec, Meta: mswarm.Meta{Version: mswarm.Version{Index: 1}}}
	return client.ServiceCreateResult{ID: o.Spec.Name}, nil
}

func (f *fakeDocker) ServiceUpdate(_ context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.services[id]
	if f.conflict > 0 {
		f.conflict--
		s.Version.Index++ // someone else wrote meanwhile
		f.services[id] = s
		return client.ServiceUpdateResult{}, errors.New("update out of sequence")
	}
	if o.Version.Index != s.Version.Index {
		return client.ServiceUpdateResult{}, fmt.Errorf("stale version %d, have %d", o.Version.Index, s.Version.Index)
	}
	f.call("update " + id)
	s.Spec = o.Spec
	s.Version.Index++
	f.services[id] = s
	return client.ServiceUpdateResult{}, nil
}

func (f *fakeDocker) ServiceRemove(_ context.Context, id string, _ client.ServiceRemoveOptions) (client.ServiceRemoveResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("remove " + id)
	delete(f.services, id)
	return client.ServiceRemoveResult{}, nil
}

func (f *fakeDocker) ConfigList(_ context.Context, o client.ConfigListOptions) (client.ConfigListResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out client.ConfigListResult
	for _, c := range f.configs {
		out.Items = append(out.Items, c)
	}
	sort.Slice(out.Items, func(i, j int) bool { return out.Items[i].Spec.Name < out.Items[j].Spec.Name })
	return out, nil // the orchestrator checks names and labels itself
}

func (f *fakeDocker) ConfigCreate(_ context.Context, o client.ConfigCreateOptions) (client.ConfigCreateResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.configs {
		if c.Spec.Name == o.Spec.Name {
			return client.ConfigCreateResult{}, cerrdefs.ErrConflict
		}
	}
	f.seq++
	id := fmt.Sprintf("cfg%d", f.seq)
	f.call("config " + o.Spec.Name)
	f.configs[id] = mswarm.Config{ID: id, Spec: o.Spec}
	return client.ConfigCreateResult{ID: id}, nil
}

func (f *fakeDocker) ConfigRemove(_ context.Context, id string, _ client.ConfigRemoveOptions) (client.ConfigRemoveResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.configs[id]
	if !ok {
		return client.ConfigRemoveResult{}, cerrdefs.ErrNotFound
	}
	if f.inUse[c.Spec.Name] {
		return client.ConfigRemoveResult{}, errors.New("config is in use")
	}
	delete(f.configs, id)
	return client.ConfigRemoveResult{}, nil
}

func (f *fakeDocker) configNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.configs {
		out = append(out, c.Spec.Name)
	}
	sort.Strings(out)
	return out
}

// fakeInner is the orchestrator the balancer one wraps.
type fakeInner struct {
	engine.Orchestrator
	deployed []string
	state    cluster.State
}

func (f *fakeInner) Deploy(_ context.Context, app config.App, _ int) error {
	f.deployed = append(f.deployed, app.Name)
	return nil
}

func (f *fakeInner) State(context.Context) (cluster.State, error) { return f.state, nil }

type recorder struct{ evs []events.Event }

func (r *recorder) Record(e events.Event) events.Event { r.evs = append(r.evs, e); return e }

const layerYAML = `
pools:
  - {name: workers, provider: local, min: 1, max: 3, machine: {cpus: 1, memory: 1GiB}}
  - {name: edge, provider: local, min: 1, max: 2, machine: {cpus: 2, memory: 1GiB}}
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    port: 8080
    replicas: {min: 2, max: 12}
    balancer:
      pool: edge
      port: 18080
      check: /healthz
      replicas: {min: 1, max: 2}
      cooldown: {up: 30s, down: 5s}
      policies:
        - {type: threshold, metric: lb_rps, upper: 60, lower: 30, for: 4s}
  - name: worker
    image: hoist/demoapp:latest
    pools: [workers]
`

func parseCfg(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestDerive(t *testing.T) {
	cfg := parseCfg(t, layerYAML)
	l := NewLayer()
	if _, derived := l.Known(); derived {
		t.Fatal("derived before Derive")
	}
	out := l.Derive(cfg, cfg.Apps)
	if len(out) != 1 {
		t.Fatalf("%d balancer apps, want 1 (worker has no balancer)", len(out))
	}
	lb := out[0]
	if lb.Name != "web-lb" || lb.Image != DefaultImage || len(lb.Pools) != 1 || lb.Pools[0] != "edge" {
		t.Errorf("balancer app %+v", lb)
	}
	if lb.Resources.Reservations.CPUs != 2 {
		t.Errorf("reservation %g CPUs, want the edge machine's 2: one balancer per machine", lb.Resources.Reservations.CPUs)
	}
	if lb.Replicas != (config.Replicas{Min: 1, Max: 2}) || lb.Cooldown.Up.D() != 30*time.Second || len(lb.Policies) != 1 || lb.Policies[0].StepUp != 1 {
		t.Errorf("replicas %+v, cooldown %+v, policies %+v", lb.Replicas, lb.Cooldown, lb.Policies)
	}
	if lb.Labels[LabelFor] != "web" || lb.Labels["hoist.network"] != "hoist-web" || lb.Balancer != nil {
		t.Errorf("labels %v, balancer %v", lb.Labels, lb.Balancer)
	}
	p, ok := l.Params("web-lb")
	want := Params{App: "web", Algorithm: "leastconn", Port: 18080, StatsPort: 8404, BackendPort: 8080, Check: "/healthz", Slots: 32, Network: "hoist-web"}
	if !ok || p != want {
		t.Errorf("params %+v, want %+v", p, want)
	}
	if err := lb.Check(map[string]*config.Pool{"edge": &cfg.Pools[1]}); len(err) != 0 {
		t.Errorf("the balancer app is not a valid app: %v", err)
	}
	// Explicit resources win.
	cfg.Apps[0].Balancer.Resources = &config.Resources{Reservations: config.Shape{CPUs: 0.5}}
	if got := AppOf(cfg, cfg.Apps[0]); got.Resources.Reservations.CPUs != 0.5 {
		t.Errorf("reservation %g, want 0.5", got.Resources.Reservations.CPUs)
	}
	// The app goes: so does its balancer.
	if out := l.Derive(cfg, cfg.Apps[1:]); len(out) != 0 {
		t.Errorf("derived %v", out)
	}
	if _, ok := l.Params("web-lb"); ok {
		t.Error("params kept for an app that went")
	}
}

func TestSlots(t *testing.T) {
	for max, want := range map[int]int{1: 16, 8: 16, 9: 32, 12: 32, 16: 32, 17: 64, 100: 256} {
		if got := slots(max); got != want {
			t.Errorf("slots(%d) = %d, want %d", max, got, want)
		}
	}
	// A schedule window's max counts too.
	cfg := parseCfg(t, strings.Replace(layerYAML, "    balancer:\n", `    policies:
      - {type: schedule, windows: [{start: "08:00", end: "20:00", max: 40}]}
    balancer:
`, 1))
	if p, _ := ParamsOf(cfg.Apps[0]); p.Slots != 128 {
		t.Errorf("slots %d with a schedule max of 40, want 128", p.Slots)
	}
}

func newTestOrchestrator(t *testing.T) (*Orchestrator, *fakeDocker, *fakeInner, *Layer, *config.Config, *recorder) {
	cfg := parseCfg(t, layerYAML)
	l := NewLayer()
	l.Derive(cfg, cfg.Apps)
	api, inner, rec := newFakeDocker(), &fakeInner{}, &recorder{}
	o := NewOrchestrator(inner, api, l, OrchestratorOptions{Pools: []string{"workers", "edge"}, Events: rec})
	return o, api, inner, l, cfg, rec
}

func TestOrchestratorDeploy(t *testing.T) {
	o, api, inner, l, cfg, _ := newTestOrchestrator(t)
	ctx := context.Background()
	if err := o.Deploy(ctx, cfg.Apps[0], 2); err != nil {
		t.Fatal(err)
	}
	if len(inner.deployed) != 1 || inner.deployed[0] != "web" {
		t.Errorf("the app itself went to %v, want the wrapped orchestrator", inner.deployed)
	}
	lb, _ := l.App("web-lb")
	if err := o.Deploy(ctx, lb, 1); err != nil {
		t.Fatal(err)
	}
	p, _ := l.Params("web-lb")
	text, _ := Render(p)
	name := ConfigName("web-lb", text)
	if got := api.configNames(); len(got) != 1 || got[0] != name {
		t.Fatalf("configs %v, want [%s]", got, name)
	}
	for _, c := range api.configs {
		if string(c.Spec.Data) != string(text) || c.Spec.Labels[LabelService] != "web-lb" {
			t.Errorf("config %s: labels %v, data differs: %v", c.Spec.Name, c.Spec.Labels, string(c.Spec.Data) != string(text))
		}
	}
	svc, ok := api.services["web-lb"]
	if !ok {
		t.Fatalf("no service; calls %v", api.calls)
	}
	spec := svc.Spec
	cs := spec.TaskTemplate.ContainerSpec
	if cs.Image != DefaultImage || cs.StopSignal != "SIGUSR1" || cs.StopGracePeriod == nil || *cs.StopGracePeriod <= HardStop {
		t.Errorf("container %+v", cs)
	}
	if len(cs.Configs) != 1 || cs.Configs[0].ConfigName != name || cs.Configs[0].File.Name != ConfigPath || cs.Configs[0].ConfigID == "" {
		t.Errorf("configs %+v", cs.Configs)
	}
	if *spec.Mode.Replicated.Replicas != 1 {
		t.Errorf("replicas %d", *spec.Mode.Replicated.Replicas)
	}
	if got := spec.TaskTemplate.Networks; len(got) != 1 || got[0].Target != "hoist-web" {
		t.Errorf("networks %+v: want the app's", got)
	}
	if got := spec.TaskTemplate.Placement.Constraints; len(got) != 1 || got[0] != "node.labels.hoist.pool==edge" {
		t.Errorf("constraints %v", got)
	}
	if got := spec.TaskTemplate.Resources.Reservations.NanoCPUs; got != 2e9 {
		t.Errorf("reserved %d nano CPUs", got)
	}
	ports := spec.EndpointSpec.Ports
	if len(ports) != 2 || ports[0].PublishedPort != 18080 || ports[0].TargetPort != 18080 || ports[1].PublishedPort != 8404 ||
		ports[0].PublishMode != mswarm.PortConfigPublishModeHost || ports[1].PublishMode != mswarm.PortConfigPublishModeHost {
		t.Errorf("ports %+v", ports)
	}
	if spec.EndpointSpec.Mode != mswarm.ResolutionModeDNSRR || spec.UpdateConfig.Order != mswarm.UpdateOrderStopFirst || spec.UpdateConfig.Parallelism != 1 {
		t.Errorf("endpoint %+v, update %+v", spec.EndpointSpec, spec.UpdateConfig)
	}
	for k, v := range map[string]string{LabelFor: "web", LabelPort: "18080", LabelStatsPort: "8404", LabelConfig: name, "hoist.managed": "true"} {
		if spec.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, spec.Labels[k], v)
		}
	}
	// Deploying again (a restart) creates nothing new and keeps the replicas.
	three := uint64(3)
	s := api.services["web-lb"]
	s.Spec.Mode.Replicated.Replicas = &three
	api.services["web-lb"] = s
	api.conflict = 1 // and a scale races with it
	if err := o.Deploy(ctx, lb, 1); err != nil {
		t.Fatal(err)
	}
	if got := *api.services["web-lb"].Spec.Mode.Replicated.Replicas; got != 3 {
		t.Errorf("replicas %d after a second deploy, want 3 kept", got)
	}
	if got := api.configNames(); len(got) != 1 {
		t.Errorf("configs %v", got)
	}
	// A reload while a drain moves a balancer task (swarm.Orchestrator.Drain
	// pinned the service off node n1, start-first): the rebuilt spec keeps
	// the pin, once, through a conflict retry, and start-first until the
	// drain ends, to give back the balancer's stop-first then.
	s = api.services["web-lb"]
	s.Spec.TaskTemplate.Placement.Constraints = append(s.Spec.TaskTemplate.Placement.Constraints, swarm.PinConstraint("n1"))
	s.Spec.UpdateConfig.Order = mswarm.UpdateOrderStartFirst
	s.Spec.Labels[swarm.LabelOrder] = string(mswarm.UpdateOrderStopFirst)
	api.services["web-lb"] = s
	api.conflict = 1
	if err := o.Deploy(ctx, lb, 1); err != nil {
		t.Fatal(err)
	}
	spec = api.services["web-lb"].Spec
	if got := spec.TaskTemplate.Placement.Constraints; len(got) != 2 || got[1] != "node.id!=n1" {
		t.Errorf("constraints after a reload during a drain: %v, want the pool's and the pin", got)
	}
	if spec.UpdateConfig.Order != mswarm.UpdateOrderStartFirst || spec.Labels[swarm.LabelOrder] != string(mswarm.UpdateOrderStopFirst) {
		t.Errorf("update %+v, label %q: want start-first until the drain ends, stop-first to restore", spec.UpdateConfig, spec.Labels[swarm.LabelOrder])
	}
}

func TestOrchestratorReconcile(t *testing.T) {
	o, api, inner, l, cfg, rec := newTestOrchestrator(t)
	ctx := context.Background()
	lb, _ := l.App("web-lb")
	if err := o.Deploy(ctx, lb, 2); err != nil {
		t.Fatal(err)
	}
	old := api.configNames()[0]
	lbService := func() cluster.Service {
		s := api.services["web-lb"]
		return cluster.Service{Name: "web-lb", Labels: s.Spec.Labels, Desired: int(*s.Spec.Mode.Replicated.Replicas)}
	}
	inner.state = cluster.State{Services: []cluster.Service{{Name: "web", Desired: 2}, lbService()}}

	// Nothing changed: nothing is done.
	api.calls = nil
	if _, err := o.State(ctx); err != nil {
		t.Fatal(err)
	}
	if len(api.calls) != 0 {
		t.Errorf("calls %v for an unchanged balancer", api.calls)
	}

	// The descriptor's algorithm changes: a new config, the service updated
	// (replicas kept), the old config removed once no task uses it.
	cfg.Apps[0].Balancer.Algorithm = "roundrobin"
	l.Derive(cfg, cfg.Apps)
	api.inUse[old] = true
	if _, err := o.State(ctx); err != nil {
		t.Fatal(err)
	}
	spec := api.services["web-lb"].Spec
	p, _ := l.Params("web-lb")
	text, _ := Render(p)
	if spec.Labels[LabelConfig] != ConfigName("web-lb", text) || !strings.Contains(string(text), "balance roundrobin") {
		t.Errorf("service runs %s", spec.Labels[LabelConfig])
	}
	if *spec.Mode.Replicated.Replicas != 2 {
		t.Errorf("replicas %d", *spec.Mode.Replicated.Replicas)
	}
	if got := api.configNames(); len(got) != 2 {
		t.Errorf("configs %v: the old one is in use and stays", got)
	}
	api.inUse[old] = false
	inner.state.Services[1] = lbService()
	cfg.Apps[0].Balancer.Check = "/ready"
	l.Derive(cfg, cfg.Apps)
	o.State(ctx)
	if got := api.configNames(); len(got) != 1 || got[0] != api.services["web-lb"].Spec.Labels[LabelConfig] {
		t.Errorf("configs %v", got)
	}
	if n := len(rec.evs); n != 2 || rec.evs[0].Kind != events.AppDeployed || !strings.Contains(rec.evs[0].Reason, "configuration changed") {
		t.Errorf("events %+v", rec.evs)
	}

	// The app goes from the descriptor and its service is gone: so does its balancer.
	inner.state = cluster.State{Services: []cluster.Service{lbService()}}
	l.Derive(cfg, cfg.Apps[1:])
	o.State(ctx)
	if _, ok := api.services["web-lb"]; ok {
		t.Error("balancer of a removed app kept")
	}
	if got := api.configNames(); len(got) != 0 {
		t.Errorf("configs %v left", got)
	}

	// Before the engine's first tick, nothing is touched.
	o2 := NewOrchestrator(&fakeInner{state: inner.state}, api, NewLayer(), OrchestratorOptions{})
	api.calls = nil
	o2.State(ctx)
	if len(api.calls) != 0 {
		t.Errorf("calls %v before anything was derived", api.calls)
	}
}
