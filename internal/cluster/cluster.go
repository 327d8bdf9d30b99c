// Package cluster is the vocabulary shared by the engine and the things it
// observes and drives: services, tasks, nodes and machines, and the resources
// they hold. It holds data only; behaviour lives with the engine, the
// orchestrators and the providers.
package cluster

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Resources is an amount of CPU (in thousandths of a core) and memory (bytes).
// Integers keep bin-packing exact.
type Resources struct {
	MilliCPU int64 `json:"milli_cpu"`
	Memory   int64 `json:"memory"`
}

// CPUs converts cores to Resources' unit, rounding up so a reservation never shrinks.
func CPUs(cores float64) int64 { return int64(math.Ceil(cores*1000 - 1e-9)) }

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{r.MilliCPU + o.MilliCPU, r.Memory + o.Memory}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{r.MilliCPU - o.MilliCPU, r.Memory - o.Memory}
}

// Fits reports whether o fits within r.
func (r Resources) Fits(o Resources) bool {
	return o.MilliCPU <= r.MilliCPU && o.Memory <= r.Memory
}

// IsZero reports whether r is empty.
func (r Resources) IsZero() bool { return r.MilliCPU == 0 && r.Memory == 0 }

// Share is the larger of r's CPU and memory shares of total (0 when total is empty).
func (r Resources) Share(total Resources) float64 {
	var s float64
	if total.MilliCPU > 0 {
		s = float64(r.MilliCPU) / float64(total.MilliCPU)
	}
	if total.Memory > 0 {
		s = math.Max(s, float64(r.Memory)/float64(total.Memory))
	}
	return s
}

func (r Resources) String() string {
	return fmt.Sprintf("%.2f CPU / %d MiB", float64(r.MilliCPU)/1000, r.Memory>>20)
}

// TaskState is where a task is in its life, reduced to what scaling needs.
type TaskState string

// Task states.
const (
	// TaskPending: not yet on a node; Reason says why.
	TaskPending TaskState = "pending"
	// TaskStarting: assigned to a node, not yet running.
	TaskStarting TaskState = "starting"
	// TaskRunning: running on its node.
	TaskRunning TaskState = "running"
)

// Task is one replica of a service. Only tasks whose desired state is running
// are reported: finished and failed tasks are history.
type Task struct {
	ID          string    `json:"id"`
	Service     string    `json:"service"`
	NodeID      string    `json:"node_id,omitempty"`
	State       TaskState `json:"state"`
	Reason      string    `json:"reason,omitempty"`
	Reservation Resources `json:"reservation"`
	Since       time.Time `json:"since"`
	// Global tasks (one per node, like hoist's agent) never move: they are
	// counted in their node's reservations but never need room elsewhere.
	Global bool `json:"global,omitempty"`
}

// Swarm's scheduler explains a task it cannot place with text such as
// "no suitable node (insufficient resources on 2 nodes)", several reasons joined
// with "; ". Only a lack of resources is answered with machines.
const insufficient = "insufficient resources"

// PendingForResources reports whether a pending task waits for room that a new
// machine would give.
func (t Task) PendingForResources() bool {
	return t.State == TaskPending && strings.Contains(t.Reason, insufficient)
}

// Service is a Swarm service (an app's running form).
type Service struct {
	Name        string            `json:"name"`
	ID          string            `json:"id,omitempty"`
	Image       string            `json:"image,omitempty"`
	Desired     int               `json:"desired"`
	Reservation Resources         `json:"reservation"`
	Limit       Resources         `json:"limit"`
	Pools       []string          `json:"pools,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Global      bool              `json:"global,omitempty"`
}

// Availability is a node's scheduling availability, as in Swarm.
type Availability string

// Availabilities.
const (
	Active Availability = "active"
	Pause  Availability = "pause"
	Drain  Availability = "drain"
)

// Node is a member of the cluster.
type Node struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	// Machine is the name of the provider machine behind the node ("" when
	// hoist did not create it, e.g. the manager).
	Machine      string       `json:"machine,omitempty"`
	Pool         string       `json:"pool,omitempty"`
	Manager      bool         `json:"manager,omitempty"`
	Ready        bool         `json:"ready"`
	Availability Availability `json:"availability"`
	Capacity     Resources    `json:"capacity"`
	Addr         string       `json:"addr,omitempty"`
}

// Schedulable reports whether new tasks may be placed on the node.
func (n Node) Schedulable() bool { return n.Ready && n.Availability == Active }

// State is what the orchestrator reports at one instant.
type State struct {
	Services []Service `json:"services"`
	Tasks    []Task    `json:"tasks"`
	// Stopping are tasks told to stop (scaled in, drained, replaced) whose
	// containers have not stopped yet: no longer replicas of their service,
	// and still serving their last requests, so a node being drained is not
	// empty while it holds one. Swarm's scheduler counts a task's
	// reservation on its node until its observed state passes running:
	// Reserved counts them (what the node holds now); the engine's room
	// does not (it frees within seconds).
	Stopping []Task `json:"stopping,omitempty"`
	Nodes    []Node `json:"nodes"`
}

// Reserved sums the reservations of the tasks assigned to each node,
// those stopping included.
func (s *State) Reserved() map[string]Resources {
	out := make(map[string]Resources, len(s.Nodes))
	for _, ts := range [][]Task{s.Tasks, s.Stopping} {
		for _, t := range ts {
			if t.NodeID != "" {
				out[t.NodeID] = out[t.NodeID].Add(t.Reservation)
			}
		}
	}
	return out
}

// MachineStatus is a provider's view of one of its machines.
type MachineStatus string

// Machine statuses.
const (
	// MachineCreating: ordered, not yet running.
	MachineCreating MachineStatus = "creating"
	// MachineRunning: the machine runs (it may not have joined the cluster yet).
	MachineRunning MachineStatus = "running"
	// MachineFailed: the provider gave up on it.
	MachineFailed MachineStatus = "failed"
)

// Machine is a machine as its provider reports it.
type Machine struct {
	Name   string        `json:"name"`
	Pool   string        `json:"pool"`
	ID     string        `json:"id,omitempty"`
	Status MachineStatus `json:"status"`
	Addr   string        `json:"addr,omitempty"`
	// Detail is the provider's own words (a script's output, an error).
	Detail string `json:"detail,omitempty"`
}

// Phase is where a machine is in the life hoist gives it. Scale-in is the
// sequence selected, draining, drained, removed, destroyed; every phase is
// persisted so that a restart resumes instead of repeating.
type Phase string

// Machine phases.
const (
	PhaseOrdered   Phase = "ordered"   // recorded; the provider's create call may not have returned
	PhaseBooting   Phase = "booting"   // the provider made it; not yet a ready node
	PhaseReady     Phase = "ready"     // a ready node of the cluster
	PhaseSelected  Phase = "selected"  // chosen for removal; drain not yet issued
	PhaseDraining  Phase = "draining"  // drain issued; tasks moving away
	PhaseDrained   Phase = "drained"   // no task left
	PhaseRemoved   Phase = "removed"   // node removed from the cluster
	PhaseDestroyed Phase = "destroyed" // machine destroyed: the end
	PhaseFailed    Phase = "failed"    // failed to boot or died; to be destroyed
)

// Counts reports whether a machine in this phase counts as capacity (it serves,
// or will once booted).
func (p Phase) Counts() bool {
	return p == PhaseOrdered || p == PhaseBooting || p == PhaseReady
}

// Exists reports whether a machine in this phase may still exist at the provider
// (and so counts against the pool's max).
func (p Phase) Exists() bool { return p != PhaseDestroyed }

// PhaseChange is one step of a machine's life.
type PhaseChange struct {
	Phase  Phase     `json:"phase"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason,omitempty"`
}

// MachineRecord is hoist's durable knowledge of one machine.
type MachineRecord struct {
	Name      string    `json:"name"`
	Pool      string    `json:"pool"`
	Phase     Phase     `json:"phase"`
	NodeID    string    `json:"node_id,omitempty"`
	OrderedAt time.Time `json:"ordered_at"`
	Since     time.Time `json:"since"` // when the current phase began
	// Attempts counts failed tries of the current phase's action; NextTry
	// delays the next one (backoff).
	Attempts int       `json:"attempts,omitempty"`
	NextTry  time.Time `json:"next_try,omitempty"`
	LastErr  string    `json:"last_error,omitempty"`
	// Cancel asks a selected or draining machine to return to service.
	Cancel  bool          `json:"cancel,omitempty"`
	History []PhaseChange `json:"history"`
}

// SetPhase moves the record to p at t, keeping the history.
func (r *MachineRecord) SetPhase(p Phase, t time.Time, reason string) {
	if r.Phase == p {
		return
	}
	r.Phase = p
	r.Since = t
	r.Attempts = 0
	r.NextTry = time.Time{}
	r.LastErr = ""
	r.History = append(r.History, PhaseChange{Phase: p, Time: t, Reason: reason})
}

// Clone returns a deep copy.
func (r MachineRecord) Clone() MachineRecord {
	r.History = append([]PhaseChange(nil), r.History...)
	return r
}
