package engine

import (
	"sort"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
)

// index is the snapshot arranged for lookups.
type index struct {
	services    map[string]*cluster.Service
	tasks       map[string][]*cluster.Task // by service, into the snapshot's tasks
	onNode      map[string][]*cluster.Task // by node ID, into the snapshot's tasks
	nodes       map[string]*cluster.Node
	byMachine   map[string]*cluster.Node
	reserved    map[string]cluster.Resources
	records     map[string]*cluster.MachineRecord
	provider    map[string]map[string]cluster.Machine // pool -> name -> machine
	apps        map[string]*config.App
	appDecision map[string]*AppDecision
	// Filled after the lifecycle step, which may adopt machines.
	recByNode map[string]*cluster.MachineRecord
	exists    map[string]int // pool -> machines that may still exist
	// votes is where the apps' vote lists are cut from (see voteSlice).
	votes []PolicyVote
}

// voteSlice returns an empty vote list of capacity n, cut from one buffer
// for all apps (capacity at n: an append past it copies the list away).
func (ix *index) voteSlice(n int) []PolicyVote {
	if len(ix.votes) < n {
		ix.votes = make([]PolicyVote, n)
	}
	v := ix.votes[:0:n]
	ix.votes = ix.votes[n:]
	return v
}

// afterLifecycle builds the lookups that depend on the records' new phases.
func (ix *index) afterLifecycle() {
	ix.recByNode = map[string]*cluster.MachineRecord{}
	ix.exists = map[string]int{}
	for _, r := range ix.records {
		if r.NodeID != "" {
			ix.recByNode[r.NodeID] = r
		}
		if r.Phase.Exists() {
			ix.exists[r.Pool]++
		}
	}
}

// groupTasks lists the tasks by service and by node, each in the observed
// order, as pointers into tasks (the decision changes none of them). Two
// passes, so that each grouping is one allocation cut into exact slices
// (capacity = length: an append to one group copies instead of overwriting
// the next) rather than a slice grown per key.
func groupTasks(tasks []cluster.Task, services, nodes int) (byService, byNode map[string][]*cluster.Task) {
	// Sized for the services and nodes observed (most have tasks): a map
	// grown one entry at a time rehashes itself many times over.
	nSvc, nNode := make(map[string]int, services), make(map[string]int, nodes)
	placed := 0
	for i := range tasks {
		nSvc[tasks[i].Service]++
		if tasks[i].NodeID != "" {
			nNode[tasks[i].NodeID]++
			placed++
		}
	}
	byService, byNode = make(map[string][]*cluster.Task, len(nSvc)), make(map[string][]*cluster.Task, len(nNode))
	svcBuf, nodeBuf := make([]*cluster.Task, len(tasks)), make([]*cluster.Task, placed)
	for i := range tasks {
		t := &tasks[i]
		g, ok := byService[t.Service]
		if !ok {
			n := nSvc[t.Service]
			g, svcBuf = svcBuf[:0:n], svcBuf[n:]
		}
		byService[t.Service] = append(g, t)
		if t.NodeID == "" {
			continue
		}
		g, ok = byNode[t.NodeID]
		if !ok {
			n := nNode[t.NodeID]
			g, nodeBuf = nodeBuf[:0:n], nodeBuf[n:]
		}
		byNode[t.NodeID] = append(g, t)
	}
	return byService, byNode
}

func buildIndex(s *Snapshot) *index {
	ix := &index{
		services:  make(map[string]*cluster.Service, len(s.State.Services)),
		nodes:     make(map[string]*cluster.Node, len(s.State.Nodes)),
		byMachine: make(map[string]*cluster.Node, len(s.State.Nodes)), reserved: s.State.Reserved(),
		records:  make(map[string]*cluster.MachineRecord, len(s.Records)),
		provider: make(map[string]map[string]cluster.Machine, len(s.Machines)),
		apps:     make(map[string]*config.App, len(s.Apps)), appDecision: make(map[string]*AppDecision, len(s.Apps)),
	}
	for i := range s.State.Services {
		ix.services[s.State.Services[i].Name] = &s.State.Services[i]
	}
	ix.tasks, ix.onNode = groupTasks(s.State.Tasks, len(s.State.Services), len(s.State.Nodes))
	for i := range s.State.Nodes {
		n := &s.State.Nodes[i]
		ix.nodes[n.ID] = n
		if n.Machine != "" {
			ix.byMachine[n.Machine] = n
		}
	}
	// The decision moves its own copies of the records (later steps see
	// the phases as they will be); the snapshot stays as observed.
	for _, r := range s.Records {
		ix.records[r.Name] = &r
	}
	for pool, ms := range s.Machines {
		m := make(map[string]cluster.Machine, len(ms))
		for _, x := range ms {
			m[x.Name] = x
		}
		ix.provider[pool] = m
	}
	for i := range s.Apps {
		ix.apps[s.Apps[i].Name] = &s.Apps[i]
	}
	return ix
}

// decide is the whole decision: machine lifecycles by observation, then
// replicas per app, then machines per pool, then services to prune. It does
// no I/O and changes none of its arguments: it returns the plan and the
// memory the next decision starts from.
func decide(cfg *config.Config, s *Snapshot, prev *memory) (*Plan, *memory) {
	m := prev.clone()
	return decideInto(cfg, s, m), m
}

// decideInto is decide changing m in place into the next memory: the loop's
// tick, which replaces its memory with the next one anyway, saves the copy
// (per app and policy, every tick). Dry runs decide on a copy.
func decideInto(cfg *config.Config, s *Snapshot, m *memory) *Plan {
	for pool, t := range s.Ordered {
		if t.After(m.lastPoolUp[pool]) {
			m.lastPoolUp[pool] = t
		}
	}
	p := &Plan{Time: s.Time}
	ix := buildIndex(s)
	p.Machines = lifecycle(cfg, s, ix, m)
	learnBoots(p.Machines, ix, m, s.Time)
	ix.afterLifecycle()
	if len(s.Apps) > 0 {
		p.Apps = make([]AppDecision, 0, len(s.Apps))
	}
	nPolicies := 0
	for i := range s.Apps {
		nPolicies += len(s.Apps[i].Policies)
	}
	ix.votes = make([]PolicyVote, nPolicies)
	for i := range s.Apps {
		d := decideApp(cfg, &s.Apps[i], s, ix, m)
		p.Apps = append(p.Apps, d)
	}
	for i := range p.Apps {
		ix.appDecision[p.Apps[i].App] = &p.Apps[i]
	}
	for i := range cfg.Pools {
		d, acts := decidePool(cfg, &cfg.Pools[i], s, ix, m)
		p.Pools = append(p.Pools, d)
		p.Machines = append(p.Machines, acts...)
	}
	p.Prune = decidePrune(s, m)
	return p
}

func recordOfNode(ix *index, n *cluster.Node) *cluster.MachineRecord {
	if n.Machine != "" {
		if r, ok := ix.records[n.Machine]; ok {
			return r
		}
	}
	return ix.recByNode[n.ID]
}

func sortedRecords(m map[string]*cluster.MachineRecord) []*cluster.MachineRecord {
	out := make([]*cluster.MachineRecord, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sortedNodes(m map[string]*cluster.Node) []*cluster.Node {
	out := make([]*cluster.Node, 0, len(m))
	for _, n := range m {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
