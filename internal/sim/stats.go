package sim

import (
	"time"

	"github.com/hoist/hoist/internal/config"
)

// Stats are a run's totals, for `hoist sim`'s summary and the benchmark.
type Stats struct {
	Apps  map[string]*AppStats  `json:"apps"`
	Pools map[string]*PoolStats `json:"pools"`
	// PendingTaskSeconds sums, over time, the tasks waiting for a node.
	PendingTaskSeconds float64 `json:"pending_task_seconds"`
	// LostNodes counts machines destroyed while their node was still in the
	// cluster: a safety failure, always 0 under hoist.
	LostNodes int     `json:"lost_nodes"`
	Seconds   float64 `json:"simulated_seconds"`
}

// AppStats are one app's totals.
type AppStats struct {
	ReplicasMin int `json:"replicas_min"`
	ReplicasMax int `json:"replicas_max"`
	ScaleUps    int `json:"scale_ups"`
	ScaleDowns  int `json:"scale_downs"`
	// Requests offered, dropped, and served slower than the SLO.
	RequestsTotal   float64 `json:"requests_total"`
	RequestsDropped float64 `json:"requests_dropped"`
	RequestsOverSLO float64 `json:"requests_over_slo"`
	// SLOViolationSeconds: seconds with p95 latency over the SLO or more than
	// 0.1% of requests dropped.
	SLOViolationSeconds float64 `json:"slo_violation_seconds"`
	// ReplicaSeconds: time-integral of running replicas.
	ReplicaSeconds float64 `json:"replica_seconds"`
	seen           bool
}

// PoolStats are one pool's totals.
type PoolStats struct {
	NodesMin          int `json:"nodes_min"`
	NodesMax          int `json:"nodes_max"`
	MachinesCreated   int `json:"machines_created"`
	MachinesDestroyed int `json:"machines_destroyed"`
	// NodeSeconds: time-integral of machines that exist (booting machines cost too).
	NodeSeconds float64 `json:"node_seconds"`
	seen        bool
}

// dropThreshold is the share of dropped requests that counts as an SLO breach.
const dropThreshold = 0.001

func (s *Stats) init(cfg *config.Config) {
	s.Apps = map[string]*AppStats{}
	s.Pools = map[string]*PoolStats{}
	for _, a := range cfg.Apps {
		s.Apps[a.Name] = &AppStats{}
	}
	for _, p := range cfg.Pools {
		s.Pools[p.Name] = &PoolStats{}
	}
}

func (s *Stats) app(name string) *AppStats {
	a, ok := s.Apps[name]
	if !ok {
		a = &AppStats{}
		s.Apps[name] = a
	}
	return a
}

func (s *Stats) pool(name string) *PoolStats {
	p, ok := s.Pools[name]
	if !ok {
		p = &PoolStats{}
		s.Pools[name] = p
	}
	return p
}

func (s *Stats) machineCreated(pool string) { s.pool(pool).MachinesCreated++ }

func (s *Stats) machineDestroyed(pool string) { s.pool(pool).MachinesDestroyed++ }

// tick accumulates one step.
func (s *Stats) tick(c *Cluster, dt time.Duration) {
	sec := dt.Seconds()
	s.Seconds += sec
	for _, t := range c.tasks {
		if t.state == "pending" {
			s.PendingTaskSeconds += sec
		}
	}
	// Each app's running replicas are those serve counted this step.
	for _, l := range c.loadList {
		if l.stats == nil {
			l.stats = s.app(l.name)
		}
		a := l.stats
		if svc, ok := c.services[l.name]; ok {
			if !a.seen || svc.desired < a.ReplicasMin {
				a.ReplicasMin = svc.desired
			}
			if svc.desired > a.ReplicasMax {
				a.ReplicasMax = svc.desired
			}
			a.seen = true
		}
		a.RequestsTotal += l.offered * sec
		a.RequestsDropped += l.dropped * sec
		a.RequestsOverSLO += l.served * l.overSLO * sec
		a.ReplicaSeconds += float64(l.running) * sec
		if l.offered > 0 && (l.p95 > l.slo || l.dropped > dropThreshold*l.offered) {
			a.SLOViolationSeconds += sec
		}
	}
	for _, p := range c.cfg.Pools {
		ps := s.pool(p.Name)
		ready, exist := c.readyAndExisting(p.Name)
		ps.NodeSeconds += float64(exist) * sec
		if !ps.seen || ready < ps.NodesMin {
			ps.NodesMin = ready
		}
		if ready > ps.NodesMax {
			ps.NodesMax = ready
		}
		ps.seen = true
	}
}

func (s Stats) clone() Stats {
	out := s
	out.Apps = map[string]*AppStats{}
	out.Pools = map[string]*PoolStats{}
	for k, v := range s.Apps {
		c := *v
		out.Apps[k] = &c
	}
	for k, v := range s.Pools {
		c := *v
		out.Pools[k] = &c
	}
	return out
}
