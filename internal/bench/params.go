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

	MicadoEval         = 10 * time.Second
	MicadoFor          = 30 * time.Second
	MicadoUpMargin     = 10.0 // percentage points of one core below the limit
	MicadoLowerCore    = 20.0 // percent of one core
	MicadoRepeat       = 40 * time.Second
	MicadoNodeUpper    = 60.0
	MicadoNodeUpFor    = time.Minute
	MicadoNodeLower    = 20.0
	MicadoNodeDownFor  = 2 * time.Minute
	MicadoMetricWindow = 10 * time.Second

	ElascaleLoop      = 10 * time.Second
	ElascaleUpper     = 0.65
	ElascaleLower     = 0.2
	ElascaleMetricWin = 10 * time.Second

	// DefaultWarmup replays the trace's first value before measuring.
	DefaultWarmup = 10 * time.Minute
	// speedupFloorPercent floors each metric in the elastic speedup (see Speedup).
	speedupFloorPercent = 0.1
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
	{"micado", "container scale-up", fmt.Sprintf("CPU above (limit - %.0f) %% of a core for %s: +1", MicadoUpMargin, MicadoFor), "MiCADO v2 Prometheus alert rules (seeds/000, issue 7)"},
	{"micado", "container scale-down", fmt.Sprintf("CPU below %.0f %% of a core for %s: -1", MicadoLowerCore, MicadoFor), "MiCADO v2 (seeds/000, issue 7)"},
	{"micado", "alert repeat", MicadoRepeat.String(), "MiCADO v2 Alertmanager (issue 7)"},
	{"micado", "node scale-up", fmt.Sprintf("mean node CPU above %.0f %% for %s: +1", MicadoNodeUpper, MicadoNodeUpFor), "MiCADO v2 Occopus rules (seeds/000, issue 7)"},
	{"micado", "node scale-down", fmt.Sprintf("mean node CPU below %.0f %% for %s: -1", MicadoNodeLower, MicadoNodeDownFor), "MiCADO v2 Occopus rules (seeds/000, issue 7)"},
	{"micado", "rule evaluation", MicadoEval.String(), "assumption: Prometheus evaluation_interval fine enough for the 30 s \"for\""},
	{"micado", "CPU window", MicadoMetricWindow.String(), "assumption: rate over one evaluation"},
	{"elascale", "loop", ElascaleLoop.String(), "Elascale (seeds/004, issue 7)"},
	{"elascale", "services and machines", fmt.Sprintf("CPU >= %.2f: +1; < %.1f: -1", ElascaleUpper, ElascaleLower), "Elascale (seeds/004, issue 7)"},
	{"elascale", "machine rule while a VM boots", "waits", "assumption: Elascale makes VMs with `docker-machine create` (seeds/004), which blocks until the VM is up"},
	{"all", "node CPU", "CPU of the node's replicas / node cores", "every replica carries the same load (even balancing)"},
	{"all", "machine removal", "the emptiest node (rules) or the unneeded one (CA); drain, wait empty, remove node, destroy", "never a node with tasks (LostNodes must stay 0)"},
}
