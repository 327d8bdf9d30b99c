package engine

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
)

// lifecycle advances each machine record by what the snapshot shows, and says
// which provider or orchestrator call each one needs next.
func lifecycle(cfg *config.Config, s *Snapshot, ix *index, m *memory) []MachineAction {
	now := s.Time
	var out []MachineAction
	step := func(r *cluster.MachineRecord, to cluster.Phase, action MachineOp, reason string) {
		node := r.NodeID
		out = append(out, MachineAction{Machine: r.Name, Pool: r.Pool, Node: node, From: r.Phase, To: to, Action: action, Reason: reason})
	}
	for _, r := range ix.sortedRecords() {
		name := r.Name
		if r.Phase == cluster.PhaseDestroyed || s.Busy[name] {
			continue
		}
		view, listed := ix.provider[r.Pool]
		providerOK := listed
		pm, exists := view[name]
		node := ix.byMachine[name]
		if node == nil && r.NodeID != "" {
			node = ix.nodes[r.NodeID]
		}
		if node != nil && r.NodeID != node.ID && r.Phase != cluster.PhaseRemoved {
			out = append(out, MachineAction{Machine: name, Pool: r.Pool, Node: node.ID, From: r.Phase, To: r.Phase, Action: MActNodeIDSet, Reason: "joined as node " + node.ID})
			r.NodeID = node.ID
		}
		retryDue := !now.Before(r.NextTry)
		switch r.Phase {
		case cluster.PhaseOrdered:
			switch {
			case providerOK && exists && node != nil && node.Ready:
				step(r, cluster.PhaseReady, MActObserve, fmt.Sprintf("ready %s after the order", now.Sub(r.OrderedAt).Round(time.Second)))
			case providerOK && exists:
				step(r, cluster.PhaseBooting, MActObserve, "the provider has it")
			case now.Sub(r.OrderedAt) > cfg.Controller.BootTimeout.D():
				step(r, cluster.PhaseFailed, MActObserve, fmt.Sprintf("not created within the boot timeout %s", cfg.Controller.BootTimeout))
			case retryDue:
				step(r, cluster.PhaseBooting, MActCreate, "create")
			}
		case cluster.PhaseBooting:
			switch {
			case node != nil && node.Ready:
				step(r, cluster.PhaseReady, MActObserve, fmt.Sprintf("ready %s after the order", now.Sub(r.OrderedAt).Round(time.Second)))
			case providerOK && exists && pm.Status == cluster.MachineFailed:
				step(r, cluster.PhaseFailed, MActObserve, "provider reports it failed: "+pm.Detail)
			case now.Sub(r.OrderedAt) > cfg.Controller.BootTimeout.D():
				step(r, cluster.PhaseFailed, MActObserve, fmt.Sprintf("not ready within the boot timeout %s", cfg.Controller.BootTimeout))
			case providerOK && !exists:
				// The create call returned but the provider lost it: ask again,
				// under the same name.
				step(r, cluster.PhaseOrdered, MActObserve, "the provider does not list it; create again")
			}
		case cluster.PhaseReady:
			gone := providerOK && (!exists || pm.Status == cluster.MachineFailed)
			down := node == nil || !node.Ready
			if !down && !gone {
				delete(m.nodeDown, name)
				break
			}
			if gone {
				delete(m.nodeDown, name)
				step(r, cluster.PhaseFailed, MActObserve, "the machine died (provider no longer runs it)")
				break
			}
			since, ok := m.nodeDown[name]
			if !ok {
				m.nodeDown[name] = now
				since = now
			}
			if now.Sub(since) > cfg.Controller.BootTimeout.D() {
				delete(m.nodeDown, name)
				step(r, cluster.PhaseFailed, MActObserve, fmt.Sprintf("node down for %s", now.Sub(since).Round(time.Second)))
			}
		case cluster.PhaseSelected:
			if r.Cancel {
				step(r, cluster.PhaseReady, MActActivate, "scale-in cancelled")
			} else if retryDue {
				step(r, cluster.PhaseDraining, MActDrain, "drain")
			}
		case cluster.PhaseDraining:
			// Stopping tasks still serve their last requests: the node is
			// empty once they have stopped too.
			left := movableTasks(ix.onNode[r.NodeID]) + ix.stopping[r.NodeID]
			switch {
			case r.Cancel:
				step(r, cluster.PhaseReady, MActActivate, "drain cancelled")
			case node == nil:
				step(r, cluster.PhaseDrained, MActObserve, "node gone")
			case left == 0:
				step(r, cluster.PhaseDrained, MActObserve, fmt.Sprintf("empty after %s", now.Sub(r.Since).Round(time.Second)))
			case now.Sub(r.Since) > cfg.Controller.DrainTimeout.D():
				step(r, cluster.PhaseReady, MActActivate, fmt.Sprintf("drain timeout %s with %s that could not move: back to service", cfg.Controller.DrainTimeout, count(left, "task")))
			}
		case cluster.PhaseDrained:
			if node == nil {
				step(r, cluster.PhaseRemoved, MActObserve, "node already gone")
			} else if retryDue {
				step(r, cluster.PhaseRemoved, MActRemove, "remove node")
			}
		case cluster.PhaseRemoved, cluster.PhaseFailed:
			if retryDue {
				step(r, cluster.PhaseDestroyed, MActDestroy, "destroy")
			}
		}
	}
	// Machines the provider runs that hoist has no record of: a restart after a
	// create that returned but was never recorded as such, or machines made by
	// hand. Adopt them so they are counted and, if unneeded, removed.
	pools := ix.scratch.pools[:0]
	for p := range ix.provider {
		pools = append(pools, p)
	}
	slices.Sort(pools)
	ix.scratch.pools = pools
	for _, pool := range pools {
		view := ix.provider[pool]
		// Only the machines to adopt are sorted (nearly always none).
		var mnames []string
		for n := range view {
			if _, known := ix.records[n]; !known && !s.Busy[n] {
				mnames = append(mnames, n)
			}
		}
		sort.Strings(mnames)
		for _, n := range mnames {
			to := cluster.PhaseBooting
			nodeID := ""
			reason := "found at the provider"
			if node := ix.byMachine[n]; node != nil {
				nodeID = node.ID
				if node.Ready {
					to = cluster.PhaseReady
				}
				if node.Ready && (node.Availability == cluster.Drain || node.Availability == cluster.Pause) {
					// A drained (or paused: hoist's make-before-break drain)
					// machine of ours: a scale-in that a restart without its
					// state interrupted. Finish it (the pool's min orders a
					// replacement if needed).
					to, reason = cluster.PhaseDraining, "found drained at the provider: finishing its scale-in"
				}
			}
			if view[n].Status == cluster.MachineFailed {
				to = cluster.PhaseFailed
			}
			out = append(out, MachineAction{Machine: n, Pool: pool, Node: nodeID, To: to, Action: MActAdopt, Reason: reason})
			ix.records[n] = &cluster.MachineRecord{Name: n, Pool: pool, Phase: to, NodeID: nodeID, OrderedAt: now, Since: now}
			ix.haveRecs = false
		}
	}
	// Later steps of this decision see the phases as they will be, but for
	// a removal: its node is still there, and a pool that needs room takes
	// it back instead (decide then drops the removal).
	for _, a := range out {
		if r := ix.records[a.Machine]; r != nil && a.Action != MActNodeIDSet && a.Action != MActRemove {
			r.Phase = a.To
		}
	}
	return out
}

func movableTasks(ts []*cluster.Task) int {
	n := 0
	for _, t := range ts {
		if !t.Global {
			n++
		}
	}
	return n
}
