package swarm

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/events"
)

// ReasonKind classifies one reason Swarm gives for not placing a task.
type ReasonKind string

// Reason kinds. Only ReasonResources is answered with machines.
const (
	ReasonResources   ReasonKind = "resources"   // insufficient resources on N nodes
	ReasonConstraint  ReasonKind = "constraint"  // scheduling constraints not satisfied on N nodes
	ReasonUnavailable ReasonKind = "unavailable" // N nodes not available for new tasks (drained, down)
	ReasonPort        ReasonKind = "port"        // host-mode port already in use on N nodes
	ReasonPlatform    ReasonKind = "platform"    // unsupported platform on N nodes
	ReasonNoNodes     ReasonKind = "no_nodes"    // no nodes at all
	ReasonOther       ReasonKind = "other"
)

// Reason is one part of Swarm's explanation.
type Reason struct {
	Kind  ReasonKind
	Nodes int // how many nodes said so (0 when Swarm gives no count)
	Text  string
}

var nodeCount = regexp.MustCompile(`(\d+) nodes?`)

// ParseReason splits Swarm's "no suitable node (a on 1 node; b on 2 nodes)"
// into its reasons.
func ParseReason(s string) []Reason {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	inner := s
	if i := strings.Index(s, "("); i >= 0 && strings.HasSuffix(s, ")") {
		inner = s[i+1 : len(s)-1]
	}
	var out []Reason
	for _, part := range strings.Split(inner, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		r := Reason{Text: part, Kind: ReasonOther}
		if m := nodeCount.FindStringSubmatch(part); m != nil {
			r.Nodes, _ = strconv.Atoi(m[1])
		}
		switch p := strings.ToLower(part); {
		case strings.Contains(p, "insufficient resources"):
			r.Kind = ReasonResources
		case strings.Contains(p, "constraint"):
			r.Kind = ReasonConstraint
		case strings.Contains(p, "not available for new tasks"):
			r.Kind = ReasonUnavailable
		case strings.Contains(p, "port"):
			r.Kind = ReasonPort
		case strings.Contains(p, "platform"):
			r.Kind = ReasonPlatform
		case p == "no nodes":
			r.Kind = ReasonNoNodes
		}
		out = append(out, r)
	}
	return out
}

// failureWindow is how far back a failed task is still worth a warning.
const failureWindow = 2 * time.Minute

// warnings records, once per distinct condition, what the engine cannot see
// from the snapshot alone: services Swarm cannot tell do not fit, bad labels,
// tasks that cannot be placed for a reason no machine fixes, tasks that fail.
func (o *Orchestrator) warnings(st cluster.State, svcs []swarm.Service, tasks []swarm.Task) {
	now := o.opt.Now()
	type warning struct{ key, app, reason string }
	cur := map[string]warning{}
	for _, s := range st.Services {
		_, optIn, err := AppFromLabels(s)
		managed := s.Labels[LabelManaged] == "true" || optIn
		if managed && s.Reservation.IsZero() && !s.Global {
			cur["noreserve:"+s.Name] = warning{"1", s.Name, "service " + s.Name + " has no CPU or memory reservation: " +
				"Swarm places its tasks on any node, full or not, and never reports them pending for resources, so hoist cannot add machines for it"}
		}
		if err != nil {
			cur["labels:"+s.Name] = warning{err.Error(), s.Name, err.Error() + ": the service is not scaled"}
		}
	}
	// Pools with a node that takes tasks: while a pool has none, its tasks
	// fail the constraint only because its machines are still on their way.
	serving := map[string]bool{}
	for _, n := range st.Nodes {
		if n.Pool != "" && n.Schedulable() {
			serving[n.Pool] = true
		}
	}
	waiting := map[string]bool{}
	for _, s := range st.Services {
		for _, p := range s.Pools {
			if !serving[p] {
				waiting[s.Name] = true
			}
		}
	}
	for _, t := range st.Tasks {
		if t.State != cluster.TaskPending || t.Reason == "" || t.PendingForResources() || waiting[t.Service] {
			continue
		}
		cur["unplaced:"+t.Service] = warning{t.Reason, t.Service, "tasks of " + t.Service + " cannot be placed: " + t.Reason +
			": not a lack of room, so no machine is ordered"}
	}
	names := map[string]string{}
	for _, s := range svcs {
		names[s.ID] = s.Spec.Name
	}
	for _, t := range tasks {
		if (t.Status.State != swarm.TaskStateRejected && t.Status.State != swarm.TaskStateFailed) || t.Status.Err == "" {
			continue
		}
		if now.Sub(t.Status.Timestamp) > failureWindow || names[t.ServiceID] == "" {
			continue
		}
		svc := names[t.ServiceID]
		subject := "failed:" + svc
		if w, ok := cur[subject]; ok && w.key <= t.Status.Err {
			continue // one per service; the same error wins on every tick
		}
		cur[subject] = warning{t.Status.Err, svc, fmt.Sprintf("a task of %s %s on node %s: %s", svc, t.Status.State, short(t.NodeID), t.Status.Err)}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	subjects := make([]string, 0, len(cur))
	for s := range cur {
		subjects = append(subjects, s)
	}
	sort.Strings(subjects)
	for _, s := range subjects {
		w := cur[s]
		if o.warn[s] == w.key {
			continue
		}
		o.warn[s] = w.key
		o.opt.Events.Record(events.Event{Time: now, Kind: events.AppWarning, App: w.app, Reason: w.reason})
	}
	for s := range o.warn {
		if _, still := cur[s]; !still {
			delete(o.warn, s) // cleared: a later occurrence is news again
		}
	}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
