package bench

import (
	"fmt"
	"time"
)

// The reference policies' parameters, all in one place: the constants the
// controllers use, and Parameters, the table the report prints with the
// source of every figure. The policies are reimplemented from these
// documented rules; no code is copied from the projects they describe.
const (
	HPASync          = 15 * time.Second
	HPATolerance     = 0.1
	HPADownStabilize = 300 * time.Second
	HPAUpPercent     = 100.0
	HPAUpPods        = 4
	HPARatePeriod    = 15 * time.Second
	HPAMetricWindow  = 15 * time.Second

	CAScan          = 10 * time.Second
	CAUtilThreshold = 0.5
	CAUnneededTime  = 10 * time.Minute
	CADelayAfterAdd = 10 * time.Minute
	CAMaxEmptyBulk  = 10

	// MiCADO's container rules are the ones its alert generator writes for a
	// service without a scaling policy (micado-scale/component-alert-generator,
	// app/generator.py: DEFAULT_SCALEUP '90', DEFAULT_SCALEDOWN '10',
	// avg(rate(container_cpu_usage_seconds_total[30s]))*100, FOR 30s): one
	// source for both thresholds, the window and the hold. The MiCADO v2
	// tutorial (seeds/000) says these alerts are "generated automatically when
	// you start your application"; its "scale up if cpu usage > 80%" is a
	// "let's say" about the Occopus node rules, with no scale-down figure.
	MicadoEval         = 10 * time.Second
	MicadoFor          = 30 * time.Second
	MicadoUpperCore    = 90.0 // percent of one core (rate x 100), DEFAULT_SCALEUP
	MicadoLowerCore    = 10.0 // percent of one core, DEFAULT_SCALEDOWN
	MicadoRepeat       = 40 * time.Second
	MicadoNodeUpper    = 60.0
	MicadoNodeUpFor    = time.Minute
	MicadoNodeLower    = 20.0
	MicadoNodeDownFor  = 2 * time.Minute
	MicadoMetricWindow = 30 * time.Second // rate(...[30s])
	MicadoNodeWindow   = 10 * time.Second

	// Elascale's service (micro) rules are those of the Elascale_secure
	// configuration its services ran with, autoscaler/conf/microservices.ini
	// (every service at cpu_up_lim = 0.6, cpu_down_lim = 0.4 from 2018-04-08
	// to 2018-09-18; 0.8 / 0.4 on 2018-09-24); its machine (macro) rules are
	// those of autoscaler/conf/macroservices.ini at HEAD (every VM at
	// cpu_up_lim = 0.65, cpu_down_lim = 0.2, also the defaults
	// conf/config_modifier.py writes for a newly found service or VM). Metrics
	// are the mean over the last 30 s (engine_config.py STARTUP_TIME =
	// "now-30s"), looked at every MONITORING_INTERVAL = 10 s.
	ElascaleLoop      = 10 * time.Second
	ElascaleUpper     = 0.6
	ElascaleLower     = 0.4
	ElascaleNodeUpper = 0.65
	ElascaleNodeLower = 0.2
	ElascaleMetricWin = 30 * time.Second

	// DefaultWarmup replays the trace's first value before measuring.
	DefaultWarmup = 10 * time.Minute
)

// TargetCPU is the CPU utilisation (percent of the limit) that hoist's default
// policy and the HPA track. One figure for both, so that neither wins by its
// target alone. Chosen from the load model before any run: an M/M/1 replica
// keeps its p95 under 12.5 service times (250 ms at 20 ms per request) up to
// about 76 % busy; 60 % plus the 10 % tolerance stays below that.
const TargetCPU = 60.0

// Param is one figure of a reference policy and where it comes from.
type Param struct {
	Policy, Name, Value, Source string
}

// Parameters is the table of every reference policy's figures.
var Parameters = []Param{
	{"hpa", "sync period", HPASync.String(), "Kubernetes docs, Horizontal Pod Autoscaling: --horizontal-pod-autoscaler-sync-period, default 15s"},
	{"hpa", "rule", "desired = ceil(current x utilisation / target)", "Kubernetes docs, HPA \"Algorithm details\""},
	{"hpa", "tolerance", fmt.Sprint(HPATolerance), "Kubernetes docs: --horizontal-pod-autoscaler-tolerance, default 0.1"},
	{"hpa", "not-ready pods", "0 % when scaling up, set aside when scaling down", "Kubernetes docs, HPA \"Algorithm details\""},
	{"hpa", "scale-down stabilisation", HPADownStabilize.String(), "Kubernetes docs, HPA \"Default Behavior\": scaleDown.stabilizationWindowSeconds 300"},
	{"hpa", "scale-up limit", fmt.Sprintf("max(+%.0f %%, +%d pods) per %s", HPAUpPercent, HPAUpPods, HPARatePeriod), "Kubernetes docs, HPA \"Default Behavior\": Percent 100 / Pods 4 per 15 s, selectPolicy Max"},
	{"hpa", "scale-down limit", "100 % per 15s", "Kubernetes docs, HPA \"Default Behavior\""},
	{"hpa", "CPU window", HPAMetricWindow.String(), "metrics-server --metric-resolution, default 15s"},
	{"hpa", "CPU target", fmt.Sprintf("%.0f %% of the request", TargetCPU), "operator's choice: the same as hoist's default, so neither wins by its target"},
	{"ca", "scan interval", CAScan.String(), "Cluster Autoscaler FAQ: --scan-interval, default 10s"},
	{"ca", "scale-up", "on unschedulable pods; new nodes by bin-packing them, upcoming nodes counted", "CA FAQ, \"How does scale-up work?\""},
	{"ca", "scale-down utilisation", fmt.Sprint(CAUtilThreshold), "CA FAQ: --scale-down-utilization-threshold 0.5 (requests / allocatable, larger of CPU and memory)"},
	{"ca", "unneeded time", CAUnneededTime.String(), "CA FAQ: --scale-down-unneeded-time, default 10m"},
	{"ca", "delay after add", CADelayAfterAdd.String(), "CA FAQ: --scale-down-delay-after-add, default 10m"},
	{"ca", "deletion", fmt.Sprintf("empty nodes up to %d at once; others one at a time, drained first", CAMaxEmptyBulk), "CA FAQ: --max-empty-bulk-delete 10; \"How does scale-down work?\""},
	{"micado", "container scale-up", fmt.Sprintf("mean CPU above %.0f %% of a core for %s: +1", MicadoUpperCore, MicadoFor), "MiCADO alert generator (micado-scale/component-alert-generator app/generator.py): DEFAULT_SCALEUP 90, FOR 30s; the rules MiCADO v2 generates per app (seeds/000)"},
	{"micado", "container scale-down", fmt.Sprintf("mean CPU below %.0f %% of a core for %s: -1", MicadoLowerCore, MicadoFor), "the same generator: DEFAULT_SCALEDOWN 10, FOR 30s"},
	{"micado", "container CPU window", MicadoMetricWindow.String(), "the same generator: avg(rate(container_cpu_usage_seconds_total[30s]))*100"},
	{"micado", "alert repeat", MicadoRepeat.String(), "MiCADO v2 Alertmanager (issue 7; not in the seed excerpt)"},
	{"micado", "node scale-up", fmt.Sprintf("mean node CPU above %.0f %% for %s: +1", MicadoNodeUpper, MicadoNodeUpFor), "MiCADO v2 Occopus rules (issue 7; the seed excerpt has only \"let's say scale up if cpu usage > 80%\")"},
	{"micado", "node scale-down", fmt.Sprintf("mean node CPU below %.0f %% for %s: -1", MicadoNodeLower, MicadoNodeDownFor), "MiCADO v2 Occopus rules (issue 7; not in the seed excerpt)"},
	{"micado", "node CPU window", MicadoNodeWindow.String(), "assumption: rate over one evaluation"},
	{"micado", "rule evaluation", MicadoEval.String(), "assumption: Prometheus evaluation_interval fine enough for the 30 s \"for\""},
	{"elascale", "loop", ElascaleLoop.String(), "Elascale_secure autoscaler/conf/engine_config.py: MONITORING_INTERVAL = 10"},
	{"elascale", "services", fmt.Sprintf("CPU >= %.2f: +1; < %.2f: -1", ElascaleUpper, ElascaleLower), "Elascale_secure autoscaler/conf/microservices.ini: cpu_up_lim = 0.6, cpu_down_lim = 0.4 (every service, 2018-04 to 2018-09)"},
	{"elascale", "machines", fmt.Sprintf("CPU >= %.2f: +1; < %.2f: -1", ElascaleNodeUpper, ElascaleNodeLower), "Elascale_secure autoscaler/conf/macroservices.ini: cpu_up_lim = 0.65, cpu_down_lim = 0.2 (every VM; config_modifier.py's defaults)"},
	{"elascale", "CPU window", ElascaleMetricWin.String(), "Elascale_secure engine_config.py: STARTUP_TIME = \"now-30s\" (the mean of the last 30 s)"},
	{"elascale", "machine rule while a VM boots", "waits", "assumption: Elascale makes VMs with `docker-machine create` (seeds/004), which blocks until the VM is up"},
	{"all", "node CPU", "CPU of the node's replicas / node cores", "every replica carries the same load (even balancing)"},
	{"all", "machine removal", "the emptiest node (rules) or the unneeded one (CA); drain, wait empty, remove node, destroy", "never a node with tasks (LostNodes must stay 0)"},
}
