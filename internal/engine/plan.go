package engine

import (
	"time"

	"github.com/hoist/hoist/internal/cluster"
)

// Plan is one tick's decision: what to do, and why, for every app, pool and
// machine. Act carries it out; `hoist plan` and the API show it.
type Plan struct {
	Time     time.Time       `json:"time"`
	Apps     []AppDecision   `json:"apps"`
	Pools    []PoolDecision  `json:"pools"`
	Machines []MachineAction `json:"machines,omitempty"`
	// Prune are the services hoist deployed and no longer manages (prune.go).
	Prune []ServicePrune `json:"prune,omitempty"`
	Took  time.Duration  `json:"took_ns,omitempty"`
}

// Action is what a decision does to an app or a pool. Its text is the
// plan's and the events' ("scale", "hold", ...).
type Action string

// App and pool actions.
const (
	ActNone   Action = "none"
	ActScale  Action = "scale"
	ActHold   Action = "hold"
	ActDeploy Action = "deploy"
)

// HoldKind says why a decision holds (the plan's hold_kind, the metrics'
// reason label).
type HoldKind string

// Hold kinds.
const (
	HoldNoData   HoldKind = "no_data"  // a policy has no data: never scale down on it
	HoldMax      HoldKind = "max"      // wanted more than max (replicas or machines)
	HoldCooldown HoldKind = "cooldown" // within a scale-up or scale-down cooldown
	HoldAnomaly  HoldKind = "anomaly"  // the anomaly guard holds scale-ups
	HoldProvider HoldKind = "provider" // the pool's provider cannot list its machines
	HoldUnfit    HoldKind = "unfit"    // tasks fit no machine of the pool
)

// AppDecision is the replica decision for one app.
type AppDecision struct {
	App      string       `json:"app"`
	Action   Action       `json:"action"`
	Current  int          `json:"current"`
	Desired  int          `json:"desired"`
	Running  int          `json:"running"`
	Pending  int          `json:"pending"`
	Min      int          `json:"min"`
	Max      int          `json:"max"`
	Reason   string       `json:"reason"`
	HoldKind HoldKind     `json:"hold_kind,omitempty"`
	Votes    []PolicyVote `json:"votes,omitempty"`
	// Ahead is how many replicas a predictive policy's forecast needs within
	// the machines' horizon (0 without one): the pool orders and keeps room.
	Ahead int `json:"ahead,omitempty"`
	// Keep is how many replicas the pool keeps room for at scale-in (at least
	// Ahead): the highest the policy asked for recently, so that a node is
	// not removed in a lull and ordered again for the next rise. Room is
	// never ordered for it.
	Keep int `json:"keep,omitempty"`
	// Notice is a predictive policy's change of mode, reported as an event.
	Notice string `json:"notice,omitempty"`
	// Forecast is a predictive policy's forecast of the request rate (nil
	// without one): what the dashboard draws and /metrics exports.
	Forecast *AppForecast `json:"forecast,omitempty"`
}

// AppForecast is a predictive policy's view of an app's demand at one tick.
type AppForecast struct {
	// Mode is "predictive", or "reactive" while the forecast is not trusted
	// (or the policy is forecast_only); Why says why.
	Mode string `json:"mode"`
	Why  string `json:"why,omitempty"`
	// Rate is the app's request rate now (requests/s); Point and Upper the
	// forecast peak over the next HorizonSeconds and its upper bound at
	// Quantile.
	Rate           float64 `json:"rate"`
	Point          float64 `json:"point"`
	Upper          float64 `json:"upper"`
	HorizonSeconds float64 `json:"horizon_seconds"`
	Quantile       float64 `json:"quantile"`
	// Coverage is the recent share of peaks at or under the upper bound;
	// MASE the recent error over the naive forecast's (nil until defined).
	// Errors is how many forecasts were scored.
	Coverage float64  `json:"coverage"`
	MASE     *float64 `json:"mase,omitempty"`
	Errors   int      `json:"errors"`
	// PerReplica is the learned requests/s one replica serves within the
	// SLO; Learned false while it is the fallback CPU target's figure.
	PerReplica float64 `json:"per_replica"`
	Learned    bool    `json:"learned"`
	// SizedAt is the quantile of the demand replicas are sized at this tick,
	// adapted to the SLO's error budget (policy.PredictBudget).
	SizedAt float64 `json:"sized_at"`
}

// PolicyVote is what one policy recommended.
type PolicyVote struct {
	Policy int `json:"policy"`
	// Name is the policy's name, if it has one (config.Policy.Label).
	Name     string  `json:"name,omitempty"`
	Type     string  `json:"type"`
	Metric   string  `json:"metric,omitempty"`
	Value    float64 `json:"value"`
	HasValue bool    `json:"has_value"`
	Replicas int     `json:"replicas"`
	Reason   string  `json:"reason"`
}

// PoolDecision is the machine decision for one pool.
type PoolDecision struct {
	Pool     string `json:"pool"`
	Action   Action `json:"action"`
	Active   int    `json:"active"`   // ordered + booting + ready
	Ready    int    `json:"ready"`    // ready nodes with a record
	InFlight int    `json:"inflight"` // ordered + booting
	Leaving  int    `json:"leaving"`  // selected .. removed, failed
	Min      int    `json:"min"`
	Max      int    `json:"max"`
	// NeedRoom is how many tasks need room (pending for resources, or about
	// to be created by this tick's scale-ups).
	NeedRoom int `json:"need_room"`
	// Create is how many machines to order.
	Create int `json:"create"`
	// Reclaim are draining machines returned to service instead of ordering.
	Reclaim []string `json:"reclaim,omitempty"`
	// Remove are machines selected for scale-in.
	Remove   []string `json:"remove,omitempty"`
	Unfit    []string `json:"unfit,omitempty"`
	Reason   string   `json:"reason"`
	HoldKind HoldKind `json:"hold_kind,omitempty"`
	// Manual is the operator's request this decision saw, if any; ManualDone
	// says the decision carries it out (act then forgets it).
	Manual     *cluster.PoolRequest `json:"manual,omitempty"`
	ManualDone bool                 `json:"manual_done,omitempty"`
}

// MachineOp is the provider or orchestrator call a machine action needs.
type MachineOp string

// Machine actions.
const (
	MActObserve   MachineOp = ""            // the phase changed by observation alone
	MActCreate              = "create"      // provider.Create
	MActDrain               = "drain"       // orchestrator.Drain
	MActActivate            = "activate"    // orchestrator.Activate (drain cancelled)
	MActRemove              = "remove_node" // orchestrator.RemoveNode
	MActDestroy             = "destroy"     // provider.Destroy
	MActAdopt               = "adopt"       // a machine the provider has that hoist had no record of
	MActSelect              = "select"      // chosen for scale-in; drained at once
	MActNodeIDSet           = "node"        // the record learned its node ID
)

// MachineAction moves one machine from a phase to the next.
type MachineAction struct {
	Machine string        `json:"machine"`
	Pool    string        `json:"pool"`
	Node    string        `json:"node,omitempty"`
	From    cluster.Phase `json:"from"`
	To      cluster.Phase `json:"to"`
	Action  MachineOp     `json:"action,omitempty"`
	Reason  string        `json:"reason"`
}
