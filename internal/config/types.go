// Package config is hoist's descriptor: the YAML file that declares the pools of
// machines, the applications that run on them and the policies that scale them.
// Parsing is strict (unknown fields are errors) and every error names the file,
// the line, the column and the field.
package config

import (
	"time"
)

// Config is a whole descriptor.
type Config struct {
	Controller Controller `yaml:"controller"`
	Sim        Sim        `yaml:"sim"`
	Pools      []Pool     `yaml:"pools"`
	Apps       []App      `yaml:"apps"`
	// Prometheus: queries, per-app alert rules and the alert webhook (see prometheus.go).
	Prometheus Prometheus `yaml:"prometheus"`

	// File is where the descriptor was read from ("" when built in code).
	File string `yaml:"-"`
	// Notes are what was ignored while reading it (Compose keys hoist does
	// not use), located like errors.
	Notes []*Note `yaml:"-" json:"-"`
}

// Controller tunes the control loop itself.
type Controller struct {
	// Interval between two ticks of the loop (default 10s).
	Interval Duration `yaml:"interval"`
	// DryRun decides and records but never acts.
	DryRun bool `yaml:"dry_run"`
	// DrainTimeout bounds how long a node may stay draining before the drain is
	// cancelled and the node returned to service (default 10m).
	DrainTimeout Duration `yaml:"drain_timeout"`
	// BootTimeout bounds how long a machine may take from the order to a ready
	// node before it is declared failed and destroyed (default 10m).
	BootTimeout Duration `yaml:"boot_timeout"`
	// Anomaly configures the detectors that watch every app's load (see
	// apps[].on_anomaly).
	Anomaly Anomaly `yaml:"anomaly"`
}

// Anomaly configures online anomaly detection on each app's metric streams.
type Anomaly struct {
	// Detector names the detector (default "default", the best on NAB).
	Detector string `yaml:"detector"`
	// Hold is how long an anomaly holds an app's scale-ups (default 5m). After
	// a hold, the app is not held again for as long, so a real, sustained
	// rise always scales.
	Hold Duration `yaml:"hold"`
	// Threshold is the score that counts as an anomaly (default 0.5).
	Threshold float64 `yaml:"threshold"`
	// Streams sets another detector or warm-up for some of the streams the
	// guard watches (rps, cpu, net_rx, net_tx); the others use Detector with
	// its own warm-up (docs/netguard.md).
	Streams map[string]AnomalyStream `yaml:"streams,omitempty"`
}

// AnomalyStream is one stream's detector.
type AnomalyStream struct {
	// Detector names the detector (default: controller.anomaly.detector).
	Detector string `yaml:"detector"`
	// Warmup is how many values the detector sees before it scores (0: the
	// detector's own, 150 or more); shorter catches a flood sooner after an
	// app starts, at the price of more false alarms early on.
	Warmup int `yaml:"warmup"`
}

// AnomalyStreams are the streams the guard watches, the keys of
// Anomaly.Streams.
var AnomalyStreams = []string{"rps", "cpu", "net_rx", "net_tx"}

// Sim configures the simulated cluster (provider "sim").
type Sim struct {
	// Start is the virtual clock's first instant (RFC 3339, default 2026-01-05T00:00:00Z, a Monday).
	Start string `yaml:"start"`
	// ContainerStart is how long a task takes from assigned to running (default 3s).
	ContainerStart Duration `yaml:"container_start"`
	// Duration is how long `hoist sim` runs when no trace sets it (default 1h).
	Duration Duration `yaml:"duration"`
}

// Pool is a group of identical machines from one provider.
type Pool struct {
	Name     string `yaml:"name"`
	Provider string `yaml:"provider"` // sim | local | command | openstack | ec2
	Min      int    `yaml:"min"`
	Max      int    `yaml:"max"`
	// Machine is the shape of every machine of the pool.
	Machine Shape `yaml:"machine"`
	// BootTime is how long a simulated machine takes to join (default 60s).
	BootTime Duration `yaml:"boot_time"`
	// ScaleDown says when a node is unneeded.
	ScaleDown ScaleDown `yaml:"scale_down"`
	// Cooldown after adding machines before any node of the pool may be removed (default 5m).
	Cooldown Duration `yaml:"cooldown"`

	Local   *LocalProvider   `yaml:"local,omitempty"`
	Command *CommandProvider `yaml:"command,omitempty"`
	// OpenStack and EC2 order the pool's machines from a cloud (docs/clouds.md).
	OpenStack *OpenStackProvider `yaml:"openstack,omitempty"`
	EC2       *EC2Provider       `yaml:"ec2,omitempty"`
	// Alert asks for Prometheus alerts on the pool's machines (prometheus.go).
	Alert *PoolAlert `yaml:"alert,omitempty"`
}

// ScaleDown is the rule for a node to be removed: its reserved share (the larger of
// CPU and memory) stays below Below for For, and its tasks fit on the other nodes.
type ScaleDown struct {
	Below    float64  `yaml:"below"` // share in (0,1], default 0.5
	For      Duration `yaml:"for"`   // default 5m
	Disabled bool     `yaml:"disabled"`
	// Consolidate also removes a node above Below when its tasks fit on the
	// other nodes without taking any above this share (default 0.75; 0 turns
	// it off and leaves Cluster Autoscaler's rule alone).
	Consolidate *float64 `yaml:"consolidate"`
}

// DefaultConsolidate is the default consolidation share.
const DefaultConsolidate = 0.75

// ConsolidateShare is the consolidation share in effect (0: off).
func (s ScaleDown) ConsolidateShare() float64 {
	if s.Consolidate == nil {
		return DefaultConsolidate
	}
	return *s.Consolidate
}

// LocalProvider configures machines as network namespaces running their own dockerd.
type LocalProvider struct {
	Prefix string `yaml:"prefix"`
	Subnet string `yaml:"subnet"`
}

// CommandProvider drives the operator's own scripts.
type CommandProvider struct {
	Create  string   `yaml:"create"`
	Destroy string   `yaml:"destroy"`
	List    string   `yaml:"list"`
	Timeout Duration `yaml:"timeout"`
	Retries int      `yaml:"retries"`
}

// OpenStackProvider orders Nova servers. Credentials come from clouds.yaml
// (Cloud) or the OS_* environment, never from the descriptor.
type OpenStackProvider struct {
	// Cloud is the clouds.yaml entry ("" : OS_CLOUD, or the OS_* variables).
	Cloud  string `yaml:"cloud"`
	Region string `yaml:"region"`
	// Flavor is the flavor's ID or name (required).
	Flavor string `yaml:"flavor"`
	// Image is the image's ID (required): an image with Docker and cloud-init.
	Image string `yaml:"image"`
	// Network is the ID of the network the machines attach to ("" : Nova's default).
	Network          string   `yaml:"network"`
	Key              string   `yaml:"key"`
	SecurityGroups   []string `yaml:"security_groups"`
	AvailabilityZone string   `yaml:"availability_zone"`
	// Timeout bounds each API request (default 60s).
	Timeout Duration `yaml:"timeout"`
}

// EC2Provider orders EC2 instances. Credentials come from the AWS SDK's
// standard chain (environment, shared files, instance role), never from the
// descriptor.
type EC2Provider struct {
	Region  string `yaml:"region"`  // "" : the SDK's (AWS_REGION, shared config)
	Profile string `yaml:"profile"` // shared-config profile ("" : the default chain)
	// InstanceType (e.g. t3.medium) and AMI (an image with Docker and
	// cloud-init) are required.
	InstanceType     string   `yaml:"instance_type"`
	AMI              string   `yaml:"ami"`
	Subnet           string   `yaml:"subnet"`
	SecurityGroups   []string `yaml:"security_groups"` // IDs (sg-...)
	Key              string   `yaml:"key"`
	AvailabilityZone string   `yaml:"availability_zone"`
	// Endpoint overrides the EC2 endpoint (an EC2-compatible cloud).
	Endpoint string `yaml:"endpoint"`
	// Timeout bounds each API call, retries included (default 60s).
	Timeout Duration `yaml:"timeout"`
}

// Shape is an amount of CPU and memory: a machine's size or a task's resources.
type Shape struct {
	CPUs   float64 `yaml:"cpus"`
	Memory Bytes   `yaml:"memory"`
}

// App is a scalable application: one Swarm service.
type App struct {
	Name      string    `yaml:"name"`
	Image     string    `yaml:"image"`
	Pools     []string  `yaml:"pools"`
	Resources Resources `yaml:"resources"`
	Replicas  Replicas  `yaml:"replicas"`
	Cooldown  Cooldown  `yaml:"cooldown"`
	Policies  []Policy  `yaml:"policies"`
	SLO       SLO       `yaml:"slo"`
	Load      *Workload `yaml:"load,omitempty"`
	Port      int       `yaml:"port"`
	Env       []string  `yaml:"env"`
	Args      []string  `yaml:"args"`
	OnAnomaly string    `yaml:"on_anomaly"`
	// Throttle is the limit on_anomaly: throttle puts on the tasks that made
	// an anomaly of the app's traffic (docs/netguard.md).
	Throttle *Throttle         `yaml:"throttle,omitempty"`
	Balancer *Balancer         `yaml:"balancer,omitempty"`
	Labels   map[string]string `yaml:"labels"`
	// PredictiveDefault: the descriptor wrote an slo and no policies, so the
	// app got the predictive policy (see DefaultPredictive).
	PredictiveDefault bool `yaml:"-" json:"-"`
}

// Balancer asks for a load balancer in front of the app (see internal/balancer
// and docs/balancer.md): HAProxy replicas on a pool of their own, scaled by
// their own policies like any app, following the app's tasks through Swarm's DNS.
type Balancer struct {
	Algorithm string `yaml:"algorithm"`
	// Port is where the balancer takes traffic, published on its machines
	// (default 80); the app's own port is where it sends it.
	Port int `yaml:"port"`
	// Pool is the balancer layer's pool (required).
	Pool string `yaml:"pool"`
	// StatsPort serves HAProxy's stats and Prometheus metrics (default 8404).
	StatsPort int `yaml:"stats_port"`
	// Check is the HTTP path of the app's health check ("": a TCP connect).
	Check string `yaml:"check"`
	// Image is the HAProxy image (default hoist/haproxy:latest).
	Image string `yaml:"image"`
	// Replicas, Resources (default: a reservation of the pool's whole machine,
	// so one balancer per machine), Cooldown and Policies are those of the
	// balancer's own app, as for any app.
	Replicas  Replicas   `yaml:"replicas"`
	Resources *Resources `yaml:"resources,omitempty"`
	Cooldown  Cooldown   `yaml:"cooldown"`
	Policies  []Policy   `yaml:"policies"`
}

// Resources are a task's limits and reservations, as `docker service create
// --limit-cpu --reserve-cpu ...` takes them.
type Resources struct {
	Limits       Shape `yaml:"limits"`
	Reservations Shape `yaml:"reservations"`
}

// Replicas bounds an app's replica count.
type Replicas struct {
	Min int `yaml:"min"`
	Max int `yaml:"max"`
}

// Cooldown is the minimum time after a scale action before the next one in the
// same direction.
type Cooldown struct {
	Up   Duration `yaml:"up"`
	Down Duration `yaml:"down"`
}

// SLO is what the app promises its users; the simulator and the benchmark count
// the time it is broken.
type SLO struct {
	// LatencyP95 is the 95th percentile latency not to exceed (default 500ms).
	LatencyP95 Duration `yaml:"latency_p95"`
	// Budget is the share of ticks (every replica asked for running) whose
	// p95 may exceed LatencyP95: the predictive policy sizes its headroom to
	// it (default internal/policy PredictBudget, 0.0005; 0: no adaptation,
	// headroom at a fixed quantile).
	Budget *float64 `yaml:"budget"`
}

// Policy types.
const (
	PolicyTarget    = "target"
	PolicyThreshold = "threshold"
	PolicySchedule  = "schedule"
	// PolicyAlert follows Prometheus alerts hoist generates for the app
	// (overloaded: above Upper for For; underloaded: below Lower for
	// DownFor), as delivered by Alertmanager to hoist's alert executor.
	PolicyAlert = "alert"
)

// Policy is one rule that recommends a replica count (target, threshold) or sets
// the bounds (schedule). Fields apply to the types named in their comment.
type Policy struct {
	// Name, optional, names the policy in every message (decisions, events,
	// alerts, errors) instead of its position: policies[cpu] for policies[0].
	Name string `yaml:"name"`
	Type string `yaml:"type"`
	// Metric is a built-in metric: cpu, memory (percent of the limit, or of the
	// reservation without one), rps (requests/s per replica), latency_p95 (ms).
	Metric string `yaml:"metric"`
	// Query is a PromQL query whose value is compared instead of a built-in metric.
	Query string `yaml:"query"`
	// Window is how far back the metric is averaged (default: the tick interval).
	Window Duration `yaml:"window"`

	// target: desired = ceil(current x value / target), unless within tolerance.
	Target    float64   `yaml:"target"`
	Tolerance *float64  `yaml:"tolerance"`
	ScaleUp   *Behavior `yaml:"scale_up"`
	ScaleDown *Behavior `yaml:"scale_down"`

	// threshold: above Upper for For: +StepUp; below Lower for For: -StepDown.
	Upper    float64  `yaml:"upper"`
	Lower    *float64 `yaml:"lower"`
	For      Duration `yaml:"for"`
	DownFor  Duration `yaml:"down_for"`
	StepUp   int      `yaml:"step_up"`
	StepDown int      `yaml:"step_down"`
	// alert (also upper, lower, for, down_for, step_up, step_down, metric or
	// query): while an alert keeps firing, step again every Repeat (default 1m).
	Repeat Duration `yaml:"repeat"`

	// predictive (see PolicyPredictive): decide and record, act as reactive.
	ForecastOnly bool `yaml:"forecast_only"`
	// predictive: the periods the load repeats with (default 24h and 168h),
	// and the resolution of the forecast's memory of them (default 1m).
	Seasons      []Duration `yaml:"seasons"`
	SeasonBucket Duration   `yaml:"season_bucket"`
	// predictive: scale-in keeps room for the highest replicas asked for
	// over this window (default internal/policy PredictKeepWindow, 45m).
	KeepWindow Duration `yaml:"keep_window"`

	// schedule: windows of the week that set min and/or max.
	Timezone string   `yaml:"timezone"`
	Windows  []Window `yaml:"windows"`
	// Location is Timezone loaded once, by SetDefaults, so the decision
	// never reads the time zone database (nil: not loaded).
	Location *time.Location `yaml:"-" json:"-"`
}

// Behavior limits how fast a target policy moves in one direction, as
// Kubernetes HPA's behavior field does.
type Behavior struct {
	// Stabilization: scale-up takes the lowest, scale-down the highest
	// recommendation of this window.
	Stabilization *Duration `yaml:"stabilization"`
	// At most MaxPercent % or MaxReplicas replicas (whichever allows more) per Period.
	MaxPercent  float64  `yaml:"max_percent"`
	MaxReplicas int      `yaml:"max_replicas"`
	Period      Duration `yaml:"period"`
}

// Window is a weekly time window, e.g. weekdays 08:00-20:00.
type Window struct {
	Days  []string `yaml:"days"`  // mon..sun; empty means every day
	Start string   `yaml:"start"` // HH:MM
	End   string   `yaml:"end"`   // HH:MM, may be before Start to cross midnight
	Min   *int     `yaml:"min"`
	Max   *int     `yaml:"max"`
}

// Workload is the simulator's model of an app's traffic and cost.
type Workload struct {
	// CPUPerRequest is the CPU time one request costs (default 20ms).
	CPUPerRequest Duration `yaml:"cpu_per_request"`
	// Queue is how many requests a replica holds before dropping (default 100).
	Queue int `yaml:"queue"`
	// BytesPerRequest is what an answer sends and RequestBytes what a
	// request brings: the simulated traffic (net_tx, net_rx; default 0).
	BytesPerRequest Bytes `yaml:"bytes_per_request"`
	RequestBytes    Bytes `yaml:"request_bytes"`
	// Pattern is the offered load over time, unless a trace is given.
	Pattern *Pattern `yaml:"pattern"`
	// Trace replays a CSV file instead.
	Trace *Trace `yaml:"trace"`
}

// Pattern shapes.
const (
	ShapeConstant = "constant"
	ShapeStep     = "step"
	ShapeRamp     = "ramp"
	ShapeSine     = "sine"
	ShapeSpike    = "spike"
)

// Pattern is a synthetic load shape in requests/s.
type Pattern struct {
	Shape string  `yaml:"shape"`
	Base  float64 `yaml:"base"`
	Peak  float64 `yaml:"peak"`
	// At is when the change starts (step, ramp, spike).
	At Duration `yaml:"at"`
	// Duration is how long the high part lasts (step, spike), the ramp's length
	// (ramp) or the period (sine). Zero for a step means it never ends.
	Duration Duration `yaml:"duration"`
}

// Trace is a CSV load trace.
type Trace struct {
	File   string   `yaml:"file"`
	Column string   `yaml:"column"`
	Step   Duration `yaml:"step"`
	Peak   float64  `yaml:"peak"`
}

// Interval returns the tick interval.
func (c *Config) Interval() time.Duration { return c.Controller.Interval.D() }

// Pool returns the pool named name.
func (c *Config) Pool(name string) (*Pool, bool) {
	for i := range c.Pools {
		if c.Pools[i].Name == name {
			return &c.Pools[i], true
		}
	}
	return nil, false
}

// App returns the app named name.
func (c *Config) App(name string) (*App, bool) {
	for i := range c.Apps {
		if c.Apps[i].Name == name {
			return &c.Apps[i], true
		}
	}
	return nil, false
}
