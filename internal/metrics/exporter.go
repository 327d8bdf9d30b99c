package metrics

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
)

// Source is what the exporter reads at scrape time: the engine.
type Source interface {
	Last() (*engine.Plan, *engine.Snapshot)
	Machines() []cluster.MachineRecord
	Config() *config.Config
}

var _ Source = (*engine.Engine)(nil)

// Series hoist exports per app that its alert rules and users' queries use.
const (
	AppCPU      = "hoist_app_cpu_percent"
	AppMemory   = "hoist_app_memory_percent"
	AppRequests = "hoist_app_requests_per_second"
	AppLatency  = "hoist_app_latency_p95_seconds"
	AppReplicas = "hoist_app_replicas"
	NodeReserve = "hoist_node_reserved_ratio"
	NodeCPU     = "hoist_node_cpu_used_ratio"
)

// RequestTotaler is a built-in source that sums an app's request rate over
// its replicas itself (the collector: only the replicas it has figures for).
// Without it the total is the per-replica rps times the running replicas,
// exact on the simulator, whose replicas share the load evenly.
type RequestTotaler interface {
	RequestRate(ctx context.Context, app string, window time.Duration) (float64, error)
}

// scrapeTimeout bounds the built-in source's answers during one scrape.
const scrapeTimeout = 3 * time.Second

// Exporter is hoist's /metrics. The loop feeds it as an engine.Observer
// (ticks, decisions, actions, provider calls) and by its events; what the
// loop observes (replicas, machines, nodes, app load) is read from the engine
// at scrape time, so it is never staler than the last tick.
type Exporter struct {
	src     Source
	builtin engine.MetricSource
	reg     *prometheus.Registry

	tickDuration  prometheus.Histogram
	ticks         *prometheus.CounterVec
	decisions     *prometheus.CounterVec
	actions       *prometheus.CounterVec
	errs          *prometheus.CounterVec
	providerCalls *prometheus.HistogramVec
	providerErrs  *prometheus.CounterVec
	events        *prometheus.CounterVec
}

var _ engine.Observer = (*Exporter)(nil)

// New makes the exporter of src's engine; builtin answers the per-app CPU,
// memory, request rate and latency (nil: those series are absent).
func New(src Source, builtin engine.MetricSource) *Exporter {
	x := &Exporter{src: src, builtin: builtin, reg: prometheus.NewRegistry()}
	x.tickDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "hoist_tick_duration_seconds",
		Help:    "Wall time of one observe-decide-act round of the control loop.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	x.ticks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hoist_ticks_total",
		Help: "Rounds of the control loop, by result (ok, or error when observing failed and nothing was decided).",
	}, []string{"result"})
	x.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hoist_decisions_total",
		Help: "Decisions per app and pool each tick, by subject (app, pool), action (scale_up, scale_down, deploy, reclaim, hold, none) and reason class (the policy type, bounds, or why it was held).",
	}, []string{"subject", "action", "reason"})
	x.actions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hoist_actions_total",
		Help: "Actions decided, by kind (app_scale, app_deploy, machine_order, machine_select, machine_drain, machine_destroy, ...; machine_create is a retried create).",
	}, []string{"kind"})
	x.errs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hoist_errors_total",
		Help: "Errors met by the loop, by source (observe: the orchestrator; provider: a provider call; metric: a policy without data).",
	}, []string{"source"})
	x.providerCalls = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hoist_provider_call_duration_seconds",
		Help:    "Latency of provider calls, by pool and operation (list, create, destroy).",
		Buckets: []float64{.001, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"pool", "op"})
	x.providerErrs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hoist_provider_call_errors_total",
		Help: "Provider calls that failed, by pool and operation.",
	}, []string{"pool", "op"})
	x.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hoist_events_total",
		Help: "Events recorded, by kind (app.scale, app.hold, pool.scale_up, machine.ready, alert.firing, ...).",
	}, []string{"kind"})
	x.reg.MustRegister(x.tickDuration, x.ticks, x.decisions, x.actions, x.errs, x.providerCalls, x.providerErrs, x.events, &observed{x: x})
	return x
}

// Registry is the exporter's registry (tests, and other features' collectors).
func (x *Exporter) Registry() *prometheus.Registry { return x.reg }

// Handler serves the metrics in Prometheus's text format.
func (x *Exporter) Handler() http.Handler {
	return promhttp.HandlerFor(x.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Ticked implements engine.Observer.
func (x *Exporter) Ticked(p *engine.Plan, s *engine.Snapshot, err error) {
	if err != nil || p == nil {
		x.ticks.WithLabelValues("error").Inc()
		x.errs.WithLabelValues("observe").Inc()
		return
	}
	x.ticks.WithLabelValues("ok").Inc()
	x.tickDuration.Observe(p.Took.Seconds())
	for i := range p.Apps {
		d := &p.Apps[i]
		action, reason := appClass(d)
		x.decisions.WithLabelValues("app", action, reason).Inc()
		switch d.Action {
		case engine.ActScale:
			x.actions.WithLabelValues("app_scale").Inc()
		case engine.ActDeploy:
			x.actions.WithLabelValues("app_deploy").Inc()
		}
	}
	for i := range p.Pools {
		d := &p.Pools[i]
		action, reason := poolClass(d)
		x.decisions.WithLabelValues("pool", action, reason).Inc()
		if d.Create > 0 {
			x.actions.WithLabelValues("machine_order").Add(float64(d.Create))
		}
	}
	for _, a := range p.Machines {
		if a.Action != engine.MActObserve && a.Action != engine.MActNodeIDSet {
			x.actions.WithLabelValues("machine_" + string(a.Action)).Inc()
		}
	}
	if s != nil {
		for _, samples := range s.Metrics {
			for _, smp := range samples {
				if smp.Err != "" {
					x.errs.WithLabelValues("metric").Inc()
				}
			}
		}
	}
}

// ProviderCalled implements engine.Observer.
func (x *Exporter) ProviderCalled(pool, op string, took time.Duration, err error) {
	x.providerCalls.WithLabelValues(pool, op).Observe(took.Seconds())
	if err != nil {
		x.providerErrs.WithLabelValues(pool, op).Inc()
		x.errs.WithLabelValues("provider").Inc()
	}
}

// Recorded counts an event.
func (x *Exporter) Recorded(e events.Event) { x.events.WithLabelValues(string(e.Kind)).Inc() }

// Follow counts the events of ch until it closes or ctx ends.
func (x *Exporter) Follow(ctx context.Context, ch <-chan events.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-ch:
			if !ok {
				return
			}
			x.Recorded(e)
		}
	}
}

// appClass names an app decision's action and the class of its reason.
func appClass(d *engine.AppDecision) (action, reason string) {
	switch d.Action {
	case engine.ActDeploy:
		return "deploy", "new"
	case engine.ActHold:
		return "hold", nonEmpty(string(d.HoldKind), "other")
	case engine.ActScale:
		action = "scale_up"
		if d.Desired < d.Current {
			action = "scale_down"
		}
	default:
		return "none", "steady"
	}
	switch {
	case strings.HasPrefix(d.Reason, "below min"), strings.HasPrefix(d.Reason, "above max"):
		return action, "bounds"
	case strings.HasPrefix(d.Reason, "policies["):
		// The reason starts with the deciding policy's label.
		for _, v := range d.Votes {
			if strings.HasPrefix(d.Reason, config.PolicyLabel(v.Policy, v.Name)+" ") {
				return action, v.Type
			}
		}
	}
	return action, "other"
}

func poolClass(d *engine.PoolDecision) (action, reason string) {
	switch {
	case d.Create > 0:
		if strings.HasPrefix(d.Reason, "below min") {
			return "scale_up", "bounds"
		}
		return "scale_up", "pending"
	case len(d.Remove) > 0:
		if strings.Contains(d.Reason, "operator asked") {
			return "scale_down", "manual"
		}
		return "scale_down", "unneeded"
	case len(d.Reclaim) > 0:
		return "reclaim", "pending"
	case d.Action == engine.ActHold:
		return "hold", nonEmpty(string(d.HoldKind), "other")
	}
	return "none", "steady"
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// observed collects, at scrape time, what the loop last observed.
type observed struct{ x *Exporter }

var _ prometheus.Collector = (*observed)(nil)

var (
	descReplicas   = prometheus.NewDesc(AppReplicas, "Replicas of an app by state: desired (the service's count), running, pending (waiting for a node).", []string{"app", "state"}, nil)
	descReplicaMin = prometheus.NewDesc("hoist_app_replicas_min", "An app's lowest allowed replica count now (schedules may raise it).", []string{"app"}, nil)
	descReplicaMax = prometheus.NewDesc("hoist_app_replicas_max", "An app's highest allowed replica count now.", []string{"app"}, nil)
	descCPU        = prometheus.NewDesc(AppCPU, "Mean CPU of an app's running replicas, percent of a replica's CPU limit (hoist's built-in cpu metric, over the tick interval).", []string{"app"}, nil)
	descMemory     = prometheus.NewDesc(AppMemory, "Mean memory of an app's running replicas, percent of the limit (hoist's built-in memory metric).", []string{"app"}, nil)
	descRequests   = prometheus.NewDesc(AppRequests, "Requests per second to all of an app's running replicas (on a real cluster the sum over the replicas the collector has figures for; on the simulator the built-in rps, per replica, times the running replicas).", []string{"app"}, nil)
	descLatency    = prometheus.NewDesc(AppLatency, "95th percentile response time of an app (hoist's built-in latency_p95).", []string{"app"}, nil)
	descMachines   = prometheus.NewDesc("hoist_pool_machines", "Machines hoist knows in a pool, by phase of their life (ordered, booting, ready, selected, draining, drained, removed, failed).", []string{"pool", "phase"}, nil)
	descPoolMin    = prometheus.NewDesc("hoist_pool_machines_min", "A pool's minimum machine count.", []string{"pool"}, nil)
	descPoolMax    = prometheus.NewDesc("hoist_pool_machines_max", "A pool's maximum machine count.", []string{"pool"}, nil)
	descCapCPU     = prometheus.NewDesc("hoist_node_capacity_cpu_cores", "CPU cores of a node.", []string{"node", "pool"}, nil)
	descCapMem     = prometheus.NewDesc("hoist_node_capacity_memory_bytes", "Memory of a node.", []string{"node", "pool"}, nil)
	descResCPU     = prometheus.NewDesc("hoist_node_reserved_cpu_cores", "CPU cores reserved by the tasks on a node.", []string{"node", "pool"}, nil)
	descResMem     = prometheus.NewDesc("hoist_node_reserved_memory_bytes", "Memory reserved by the tasks on a node.", []string{"node", "pool"}, nil)
	descResRatio   = prometheus.NewDesc(NodeReserve, "The larger of the reserved CPU and memory shares of a node that takes tasks (what a pool's scale_down compares).", []string{"node", "pool"}, nil)
	descCPURatio   = prometheus.NewDesc(NodeCPU, "Share of a node's CPU its tasks use, estimated from their apps' CPU and limits, for nodes that take tasks.", []string{"node", "pool"}, nil)
	descLastTick   = prometheus.NewDesc("hoist_last_tick_timestamp_seconds", "When the last tick observed the cluster, on the engine's clock (simulated time on the simulator).", nil, nil)
	// A predictive policy's forecast (internal/forecast), for apps that have one.
	descFcUpper    = prometheus.NewDesc("hoist_app_forecast_upper_requests_per_second", "Upper bound of a predictive policy's forecast of an app's peak request rate over the machines' horizon, at its quantile.", []string{"app"}, nil)
	descFcPoint    = prometheus.NewDesc("hoist_app_forecast_requests_per_second", "A predictive policy's forecast of an app's peak request rate over the machines' horizon.", []string{"app"}, nil)
	descFcCoverage = prometheus.NewDesc("hoist_app_forecast_coverage_ratio", "Recent share of an app's peak request rates at or under the forecast's upper bound (compare with its quantile).", []string{"app"}, nil)
	descFcMASE     = prometheus.NewDesc("hoist_app_forecast_mase", "Recent mean absolute error of an app's forecast over that of the naive forecast (the last value): above 1 the forecast is worse than naive.", []string{"app"}, nil)
	descFcMode     = prometheus.NewDesc("hoist_app_forecast_predictive", "1 while an app's predictive policy acts on its forecast, 0 while it falls back to reacting (forecast not trusted, or forecast_only).", []string{"app"}, nil)
	descFcCapacity = prometheus.NewDesc("hoist_app_capacity_requests_per_replica", "Requests per second one replica of an app serves within its slo, as a predictive policy learned it (the CPU target's figure while learning).", []string{"app"}, nil)
	descFcSizedAt  = prometheus.NewDesc("hoist_app_headroom_quantile", "Quantile of an app's demand its replicas are sized at, as the predictive policy adapted it to the slo's error budget.", []string{"app"}, nil)
)

// phases are exported for every pool, zero included, so series do not come and go.
var phases = []cluster.Phase{cluster.PhaseOrdered, cluster.PhaseBooting, cluster.PhaseReady, cluster.PhaseSelected,
	cluster.PhaseDraining, cluster.PhaseDrained, cluster.PhaseRemoved, cluster.PhaseFailed}

func (o *observed) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReplicas, descReplicaMin, descReplicaMax, descCPU, descMemory, descRequests, descLatency,
		descMachines, descPoolMin, descPoolMax, descCapCPU, descCapMem, descResCPU, descResMem, descResRatio, descCPURatio, descLastTick,
		descFcUpper, descFcPoint, descFcCoverage, descFcMASE, descFcMode, descFcCapacity, descFcSizedAt} {
		ch <- d
	}
}

// forecastGauges exports an app's forecast (nothing without one; MASE only
// once defined).
func forecastGauges(ch chan<- prometheus.Metric, app string, f *engine.AppForecast) {
	if f == nil {
		return
	}
	gauge(ch, descFcUpper, f.Upper, app)
	gauge(ch, descFcPoint, f.Point, app)
	gauge(ch, descFcCoverage, f.Coverage, app)
	if f.MASE != nil {
		gauge(ch, descFcMASE, *f.MASE, app)
	}
	predictive := 0.0
	if f.Mode == "predictive" {
		predictive = 1
	}
	gauge(ch, descFcMode, predictive, app)
	gauge(ch, descFcCapacity, f.PerReplica, app)
	if f.SizedAt > 0 {
		gauge(ch, descFcSizedAt, f.SizedAt, app)
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (o *observed) Collect(ch chan<- prometheus.Metric) {
	cfg := o.x.src.Config()
	machines := o.x.src.Machines()
	for _, p := range cfg.Pools {
		n := map[cluster.Phase]int{}
		for _, m := range machines {
			if m.Pool == p.Name {
				n[m.Phase]++
			}
		}
		for _, ph := range phases {
			gauge(ch, descMachines, float64(n[ph]), p.Name, string(ph))
		}
		gauge(ch, descPoolMin, float64(p.Min), p.Name)
		gauge(ch, descPoolMax, float64(p.Max), p.Name)
	}
	plan, snap := o.x.src.Last()
	if snap == nil {
		return
	}
	gauge(ch, descLastTick, float64(snap.Time.UnixNano())/1e9)
	st := &snap.State
	svcs := map[string]*cluster.Service{}
	for i := range st.Services {
		svcs[st.Services[i].Name] = &st.Services[i]
	}
	running, pending := map[string]int{}, map[string]int{}
	for _, t := range st.Tasks {
		switch t.State {
		case cluster.TaskRunning:
			running[t.Service]++
		case cluster.TaskPending:
			pending[t.Service]++
		}
	}
	bounds := map[string]*engine.AppDecision{}
	if plan != nil {
		for i := range plan.Apps {
			bounds[plan.Apps[i].App] = &plan.Apps[i]
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	cpu := map[string]float64{}
	for _, a := range snap.Apps {
		desired := 0
		if s := svcs[a.Name]; s != nil {
			desired = s.Desired
		}
		gauge(ch, descReplicas, float64(desired), a.Name, "desired")
		gauge(ch, descReplicas, float64(running[a.Name]), a.Name, "running")
		gauge(ch, descReplicas, float64(pending[a.Name]), a.Name, "pending")
		if d := bounds[a.Name]; d != nil {
			gauge(ch, descReplicaMin, float64(d.Min), a.Name)
			gauge(ch, descReplicaMax, float64(d.Max), a.Name)
			forecastGauges(ch, a.Name, d.Forecast)
		}
		if o.x.builtin == nil || running[a.Name] == 0 {
			continue // no replica, no load figures: absent, not zero
		}
		win := cfg.Interval()
		value := func(metric string) (float64, bool) {
			v, err := o.x.builtin.Value(ctx, engine.MetricQuery{App: a.Name, Metric: metric, Window: win})
			if err != nil && !errors.Is(err, engine.ErrNoData) {
				o.x.errs.WithLabelValues("metric").Inc()
			}
			return v, err == nil
		}
		if v, ok := value("cpu"); ok {
			cpu[a.Name] = v
			gauge(ch, descCPU, v, a.Name)
		}
		if v, ok := value("memory"); ok {
			gauge(ch, descMemory, v, a.Name)
		}
		if tot, ok := o.x.builtin.(RequestTotaler); ok {
			v, err := tot.RequestRate(ctx, a.Name, win)
			if err != nil && !errors.Is(err, engine.ErrNoData) {
				o.x.errs.WithLabelValues("metric").Inc()
			}
			if err == nil {
				gauge(ch, descRequests, v, a.Name)
			}
		} else if v, ok := value("rps"); ok {
			gauge(ch, descRequests, v*float64(running[a.Name]), a.Name)
		}
		if v, ok := value("latency_p95"); ok {
			gauge(ch, descLatency, v/1000, a.Name)
		}
	}
	reserved := st.Reserved()
	used := map[string]float64{} // node -> cores used, estimated
	for _, t := range st.Tasks {
		if t.State != cluster.TaskRunning || t.NodeID == "" {
			continue
		}
		if c, ok := cpu[t.Service]; ok {
			used[t.NodeID] += c / 100 * taskCores(svcs[t.Service], t)
		}
	}
	nodes := append([]cluster.Node(nil), st.Nodes...)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	for _, n := range nodes {
		if !n.Ready {
			continue
		}
		r := reserved[n.ID]
		gauge(ch, descCapCPU, float64(n.Capacity.MilliCPU)/1000, n.ID, n.Pool)
		gauge(ch, descCapMem, float64(n.Capacity.Memory), n.ID, n.Pool)
		gauge(ch, descResCPU, float64(r.MilliCPU)/1000, n.ID, n.Pool)
		gauge(ch, descResMem, float64(r.Memory), n.ID, n.Pool)
		if n.Schedulable() {
			gauge(ch, descResRatio, r.Share(n.Capacity), n.ID, n.Pool)
			if n.Capacity.MilliCPU > 0 {
				gauge(ch, descCPURatio, used[n.ID]/(float64(n.Capacity.MilliCPU)/1000), n.ID, n.Pool)
			}
		}
	}
}

// taskCores is the CPU a task's CPU percentage refers to: its limit, else
// its reservation, else one core (as the simulator and Docker count it).
func taskCores(s *cluster.Service, t cluster.Task) float64 {
	switch {
	case s != nil && s.Limit.MilliCPU > 0:
		return float64(s.Limit.MilliCPU) / 1000
	case t.Reservation.MilliCPU > 0:
		return float64(t.Reservation.MilliCPU) / 1000
	}
	return 1
}
