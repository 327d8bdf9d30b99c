package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/events"
)

// Pruning: a service hoist deployed (labelled hoist.managed=true) that no app
// of the descriptor, the API or a derived layer stands behind any more is
// removed, as `docker stack deploy --prune` removes the services a stack
// file no longer names. Otherwise an app dropped from the descriptor would
// keep running unmanaged and hold its machines for good. A service labelled
// hoist.keep=true is left running, unmanaged.
//
// Only a complete observation decides (a failed listing fails the whole
// tick before any decision), and a service is removed only when two
// consecutive ticks found it orphaned, so one odd observation removes nothing.

// ServicePrune is a decision about a service hoist deployed and no longer
// manages.
type ServicePrune struct {
	Service string `json:"service"`
	// Remove is true when the service goes this tick; false while it waits
	// for a second look or is kept.
	Remove bool   `json:"remove"`
	Keep   bool   `json:"keep,omitempty"`
	Reason string `json:"reason"`
}

// decidePrune finds the orphaned services of s. m.orphans remembers since
// when each has been seen orphaned; services that are no longer are forgotten.
// isApp says whether one of s.Apps has a name (the index's, without a set
// made anew).
func decidePrune(s *Snapshot, m *memory, isApp func(name string) bool) []ServicePrune {
	var out []ServicePrune
	seen := map[string]bool{}
	for _, svc := range s.State.Services {
		if svc.Labels[cluster.LabelManaged] != "true" || isApp(svc.Name) {
			continue
		}
		seen[svc.Name] = true
		d := ServicePrune{Service: svc.Name}
		since, known := m.orphans[svc.Name]
		switch {
		case strings.EqualFold(svc.Labels[cluster.LabelKeep], "true"):
			d.Keep = true
			d.Reason = fmt.Sprintf("deployed by hoist, no longer in the descriptor or the API; kept running, unmanaged, by its label %s=true", cluster.LabelKeep)
		case !known:
			m.orphans[svc.Name] = s.Time
			d.Reason = "deployed by hoist, no longer in the descriptor or the API: removed at the next tick if still so"
		default:
			d.Remove = true
			d.Reason = fmt.Sprintf("deployed by hoist (%s=true), in neither the descriptor nor the API since %s: removed, as docker stack deploy --prune would; label a service %s=true to keep it",
				cluster.LabelManaged, since.UTC().Format("15:04:05"), cluster.LabelKeep)
		}
		out = append(out, d)
	}
	for name := range m.orphans {
		if !seen[name] {
			delete(m.orphans, name)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

// actPrune removes the services the plan prunes (or says it would, in a dry
// run) and records why; a kept service is said once.
func (e *Engine) actPrune(ctx context.Context, p *Plan, dry bool) {
	for _, d := range p.Prune {
		ev := events.Event{Time: p.Time, Kind: events.AppRemoved, App: d.Service, Reason: d.Reason, DryRun: dry}
		switch {
		case d.Keep:
			ev.Kind = events.EngineInfo
			e.holdEvent("prune:"+d.Service, ev, "keep")
		case !d.Remove:
		case dry:
			ev.Reason = "would remove: " + d.Reason
			e.holdEvent("prune:"+d.Service, ev, "dry")
		default:
			if err := e.d.Orchestrator.Remove(ctx, d.Service); err != nil {
				ev.Kind, ev.Reason = events.EngineError, "removing orphaned service failed, will retry: "+err.Error()
				e.holdEvent("prune:"+d.Service, ev, "error:"+err.Error())
				continue
			}
			delete(e.mem.orphans, d.Service)
			e.clearHold("prune:" + d.Service)
			e.d.Events.Record(ev)
		}
	}
}
