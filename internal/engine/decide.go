package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hoist/hoist/internal/capacity"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/policy"
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

// App and pool actions.
const (
	ActNone   = "none"
	ActScale  = "scale"
	ActHold   = "hold"
	ActDeploy = "deploy"
)

// AppDecision is the replica decision for one app.
type AppDecision struct {
	App      string       `json:"app"`
	Action   string       `json:"action"`
	Current  int          `json:"current"`
	Desired  int          `json:"desired"`
	Running  int          `json:"running"`
	Pending  int          `json:"pending"`
	Min      int          `json:"min"`
	Max      int          `json:"max"`
	Reason   string       `json:"reason"`
	HoldKind string       `json:"hold_kind,omitempty"`
	Votes    []PolicyVote `json:"votes,omitempty"`
}

// PolicyVote is what one policy recommended.
type PolicyVote struct {
	Policy   int     `json:"policy"`
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
	Action   string `json:"action"`
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
	HoldKind string   `json:"hold_kind,omitempty"`
	// Manual is the operator's request this decision saw, if any; ManualDone
	// says the decision carries it out (act then forgets it).
	Manual     *cluster.PoolRequest `json:"manual,omitempty"`
	ManualDone bool                 `json:"manual_done,omitempty"`
}

// Machine actions.
const (
	MActObserve   = ""            // the phase changed by observation alone
	MActCreate    = "create"      // provider.Create
	MActDrain     = "drain"       // orchestrator.Drain
	MActActivate  = "activate"    // orchestrator.Activate (drain cancelled)
	MActRemove    = "remove_node" // orchestrator.RemoveNode
	MActDestroy   = "destroy"     // provider.Destroy
	MActAdopt     = "adopt"       // a machine the provider has that hoist had no record of
	MActSelect    = "select"      // chosen for scale-in; drained at once
	MActNodeIDSet = "node"        // the record learned its node ID
)

// MachineAction moves one machine from a phase to the next.
type MachineAction struct {
	Machine string        `json:"machine"`
	Pool    string        `json:"pool"`
	Node    string        `json:"node,omitempty"`
	From    cluster.Phase `json:"from"`
	To      cluster.Phase `json:"to"`
	Action  string        `json:"action,omitempty"`
	Reason  string        `json:"reason"`
}

// index is the snapshot arranged for lookups.
type index struct {
	services    map[string]*cluster.Service
	tasks       map[string][]cluster.Task // by service
	onNode      map[string][]cluster.Task // by node ID
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

func buildIndex(s *Snapshot) *index {
	ix := &index{
		services: map[string]*cluster.Service{}, tasks: map[string][]cluster.Task{},
		onNode: map[string][]cluster.Task{}, nodes: map[string]*cluster.Node{},
		byMachine: map[string]*cluster.Node{}, reserved: s.State.Reserved(),
		records: map[string]*cluster.MachineRecord{}, provider: map[string]map[string]cluster.Machine{},
		apps: map[string]*config.App{}, appDecision: map[string]*AppDecision{},
	}
	for i := range s.State.Services {
		ix.services[s.State.Services[i].Name] = &s.State.Services[i]
	}
	for _, t := range s.State.Tasks {
		ix.tasks[t.Service] = append(ix.tasks[t.Service], t)
		if t.NodeID != "" {
			ix.onNode[t.NodeID] = append(ix.onNode[t.NodeID], t)
		}
	}
	for i := range s.State.Nodes {
		n := &s.State.Nodes[i]
		ix.nodes[n.ID] = n
		if n.Machine != "" {
			ix.byMachine[n.Machine] = n
		}
	}
	for i := range s.Records {
		ix.records[s.Records[i].Name] = &s.Records[i]
	}
	for pool, ms := range s.Machines {
		m := map[string]cluster.Machine{}
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
// replicas per app, then machines per pool. It does no I/O; m is updated.
func decide(cfg *config.Config, s *Snapshot, m *memory) *Plan {
	p := &Plan{Time: s.Time}
	ix := buildIndex(s)
	p.Machines = lifecycle(cfg, s, ix, m)
	ix.afterLifecycle()
	for i := range s.Apps {
		d := decideApp(&s.Apps[i], s, ix, m)
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

// lifecycle advances each machine record by what the snapshot shows, and says
// which provider or orchestrator call each one needs next.
func lifecycle(cfg *config.Config, s *Snapshot, ix *index, m *memory) []MachineAction {
	now := s.Time
	var out []MachineAction
	names := make([]string, 0, len(ix.records))
	for n := range ix.records {
		names = append(names, n)
	}
	sort.Strings(names)
	step := func(r *cluster.MachineRecord, to cluster.Phase, action, reason string) {
		node := r.NodeID
		out = append(out, MachineAction{Machine: r.Name, Pool: r.Pool, Node: node, From: r.Phase, To: to, Action: action, Reason: reason})
	}
	for _, name := range names {
		r := ix.records[name]
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
			left := movableTasks(ix.onNode[r.NodeID])
			switch {
			case r.Cancel:
				step(r, cluster.PhaseReady, MActActivate, "drain cancelled")
			case node == nil:
				step(r, cluster.PhaseDrained, MActObserve, "node gone")
			case left == 0:
				step(r, cluster.PhaseDrained, MActObserve, fmt.Sprintf("empty after %s", now.Sub(r.Since).Round(time.Second)))
			case now.Sub(r.Since) > cfg.Controller.DrainTimeout.D():
				step(r, cluster.PhaseReady, MActActivate, fmt.Sprintf("drain timeout %s with %d tasks that could not move: back to service", cfg.Controller.DrainTimeout, left))
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
	pools := make([]string, 0, len(ix.provider))
	for p := range ix.provider {
		pools = append(pools, p)
	}
	sort.Strings(pools)
	for _, pool := range pools {
		view := ix.provider[pool]
		mnames := make([]string, 0, len(view))
		for n := range view {
			mnames = append(mnames, n)
		}
		sort.Strings(mnames)
		for _, n := range mnames {
			if _, known := ix.records[n]; known || s.Busy[n] {
				continue
			}
			to := cluster.PhaseBooting
			nodeID := ""
			reason := "found at the provider"
			if node := ix.byMachine[n]; node != nil {
				nodeID = node.ID
				if node.Ready {
					to = cluster.PhaseReady
				}
				if node.Ready && node.Availability == cluster.Drain {
					// A drained machine of ours: a scale-in that a restart
					// without its state interrupted. Finish it (the pool's min
					// orders a replacement if needed).
					to, reason = cluster.PhaseDraining, "found drained at the provider: finishing its scale-in"
				}
			}
			if view[n].Status == cluster.MachineFailed {
				to = cluster.PhaseFailed
			}
			out = append(out, MachineAction{Machine: n, Pool: pool, Node: nodeID, To: to, Action: MActAdopt, Reason: reason})
			ix.records[n] = &cluster.MachineRecord{Name: n, Pool: pool, Phase: to, NodeID: nodeID, OrderedAt: now, Since: now}
		}
	}
	// Later steps of this decision see the phases as they will be.
	for _, a := range out {
		if r := ix.records[a.Machine]; r != nil && a.Action != MActNodeIDSet {
			r.Phase = a.To
		}
	}
	return out
}

func movableTasks(ts []cluster.Task) int {
	n := 0
	for _, t := range ts {
		if !t.Global {
			n++
		}
	}
	return n
}

func decideApp(app *config.App, s *Snapshot, ix *index, m *memory) AppDecision {
	d := AppDecision{App: app.Name, Min: app.Replicas.Min, Max: app.Replicas.Max}
	boundsWhy := ""
	for _, p := range app.Policies {
		if p.Type != config.PolicySchedule {
			continue
		}
		if b, ok := policy.Schedule(&p, s.Time); ok {
			if b.Min > 0 {
				d.Min = b.Min
			}
			if b.Max > 0 {
				d.Max = b.Max
			}
			d.Max = max(d.Max, d.Min)
			boundsWhy = b.Reason
		}
	}
	svc := ix.services[app.Name]
	if svc == nil {
		d.Action, d.Desired = ActDeploy, d.Min
		d.Reason = fmt.Sprintf("no service yet: deploy with %d replicas", d.Min)
		return d
	}
	for _, t := range ix.tasks[app.Name] {
		switch t.State {
		case cluster.TaskRunning:
			d.Running++
		case cluster.TaskPending:
			d.Pending++
		}
	}
	cur := svc.Desired
	d.Current, d.Desired = cur, cur
	am := m.app(app.Name, len(app.Policies))
	samples := s.Metrics[app.Name]

	best, bestWhy := -1, ""
	var noData []string
	abstained := "" // the first policy without an opinion, for the reason
	for i := range app.Policies {
		p := &app.Policies[i]
		if p.Type == config.PolicySchedule {
			continue
		}
		var smp Sample
		if i < len(samples) {
			smp = samples[i]
		}
		in := policy.Input{Now: s.Time, Current: cur, Ready: d.Running, Value: smp.Value, HasValue: smp.OK, Changes: am.changes}
		var rec policy.Recommendation
		switch p.Type {
		case config.PolicyTarget:
			rec = policy.Target(p, &am.target[i], in)
		case config.PolicyAlert:
			rec, smp = alertVote(p, i, in, s.Alerts, app.Name)
		default:
			rec = policy.Threshold(p, &am.threshold[i], in)
		}
		if rec.NoData && smp.Err != "" {
			rec.Reason = smp.Err
		}
		d.Votes = append(d.Votes, PolicyVote{Policy: i, Type: p.Type, Metric: metricLabel(p), Value: smp.Value, HasValue: smp.OK, Replicas: rec.Replicas, Reason: rec.Reason})
		if rec.NoData {
			noData = append(noData, fmt.Sprintf("policies[%d] (%s): %s", i, metricLabel(p), rec.Reason))
			continue
		}
		if rec.Abstain {
			if abstained == "" {
				abstained = fmt.Sprintf("policies[%d] %s", i, rec.Reason)
			}
			continue
		}
		if rec.Replicas > best {
			best, bestWhy = rec.Replicas, fmt.Sprintf("policies[%d] %s", i, rec.Reason)
		}
	}
	want, why := cur, "no policy"
	if abstained != "" {
		why = abstained
	}
	if best >= 0 {
		want, why = best, bestWhy
	}
	hold := func(kind, reason string) AppDecision {
		d.Action, d.Desired, d.HoldKind = ActHold, cur, kind
		d.Reason = reason
		return d
	}
	// Missing data never scales down: a policy that cannot see must not be
	// outvoted into removing capacity.
	if want < cur && len(noData) > 0 {
		if cur <= d.Max {
			return hold("no_data", fmt.Sprintf("wanted %d, held at %d: no data from %s", want, cur, strings.Join(noData, "; ")))
		}
	}
	if best < 0 && len(noData) > 0 && cur >= d.Min && cur <= d.Max {
		return hold("no_data", "no data: "+strings.Join(noData, "; "))
	}
	// Bounds first: they are safety, not advice, so cooldowns do not delay them.
	switch {
	case cur < d.Min:
		d.Action, d.Desired = ActScale, max(d.Min, min(want, d.Max))
		d.Reason = fmt.Sprintf("below min %d%s; %s", d.Min, suffix(boundsWhy), why)
		return d
	case cur > d.Max:
		d.Action, d.Desired = ActScale, min(d.Max, max(want, d.Min))
		d.Reason = fmt.Sprintf("above max %d%s; %s", d.Max, suffix(boundsWhy), why)
		return d
	}
	target := min(max(want, d.Min), d.Max)
	if target == cur {
		if want > d.Max {
			return hold("max", fmt.Sprintf("wanted %d, held at max %d%s: %s", want, d.Max, suffix(boundsWhy), why))
		}
		if want < d.Min && want < cur {
			d.Action, d.Reason = ActNone, fmt.Sprintf("at min %d: %s", d.Min, why)
			return d
		}
		d.Action, d.Reason = ActNone, why
		return d
	}
	if target > cur {
		if left := app.Cooldown.Up.D() - s.Time.Sub(am.lastUp); !am.lastUp.IsZero() && left > 0 {
			return hold("cooldown", fmt.Sprintf("wanted %d, held at %d: scale-up cooldown, %s left", target, cur, left.Round(time.Second)))
		}
		if why, held := s.AnomalyHold[app.Name]; held {
			return hold("anomaly", fmt.Sprintf("wanted %d, held at %d: anomaly guard: %s", target, cur, why))
		}
	} else if left := app.Cooldown.Down.D() - s.Time.Sub(am.lastMove); !am.lastMove.IsZero() && left > 0 {
		return hold("cooldown", fmt.Sprintf("wanted %d, held at %d: scale-down cooldown, %s left", target, cur, left.Round(time.Second)))
	}
	d.Action, d.Desired = ActScale, target
	d.Reason = why
	if target != want {
		d.Reason += fmt.Sprintf(" (bounded to %d..%d%s)", d.Min, d.Max, suffix(boundsWhy))
	}
	return d
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return " by " + s
}

// alertVote is an alert policy's vote; its sample says which alert fires
// (1 overloaded, -1 underloaded, 0 none) so events show it among the inputs.
func alertVote(p *config.Policy, i int, in policy.Input, alerts map[string][]policy.Firing, app string) (policy.Recommendation, Sample) {
	if alerts == nil {
		const why = "no alert executor: configure prometheus.webhook and hoist run --listen"
		return policy.Recommendation{Replicas: in.Current, NoData: true, Reason: why}, Sample{Err: why}
	}
	rec := policy.Alert(p, i, in, alerts[app])
	smp := Sample{OK: true}
	for _, f := range alerts[app] {
		switch {
		case f.Policy != i:
		case f.Kind == policy.Overloaded:
			smp.Value = 1
		case f.Kind == policy.Underloaded && smp.Value == 0:
			smp.Value = -1
		}
	}
	return rec, smp
}

func metricLabel(p *config.Policy) string {
	if p.Type == config.PolicyAlert {
		return "alert"
	}
	if p.Query != "" {
		return "query"
	}
	return p.Metric
}

// poolFor is the pool that should grow for an app: the first of its pools that
// still has room below max, else its first pool.
func poolFor(cfg *config.Config, app *config.App, ix *index) string {
	for _, name := range app.Pools {
		p, ok := cfg.Pool(name)
		if !ok {
			continue
		}
		if ix.exists[name] < p.Max {
			return name
		}
	}
	if len(app.Pools) > 0 {
		return app.Pools[0]
	}
	return ""
}

// reservation returns what one task of app reserves, from its service (or
// from the descriptor before the service exists).
func reservation(app *config.App, svc *cluster.Service) cluster.Resources {
	if svc != nil {
		return svc.Reservation
	}
	return cluster.Resources{MilliCPU: cluster.CPUs(app.Resources.Reservations.CPUs), Memory: int64(app.Resources.Reservations.Memory)}
}

func decidePool(cfg *config.Config, pool *config.Pool, s *Snapshot, ix *index, m *memory) (PoolDecision, []MachineAction) {
	now := s.Time
	d := PoolDecision{Pool: pool.Name, Min: pool.Min, Max: pool.Max}
	shape := cluster.Resources{MilliCPU: cluster.CPUs(pool.Machine.CPUs), Memory: int64(pool.Machine.Memory)}
	var reclaimable []*cluster.MachineRecord
	exists := 0
	for _, r := range sortedRecords(ix.records) {
		if r.Pool != pool.Name {
			continue
		}
		switch {
		case r.Phase == cluster.PhaseReady:
			d.Ready++
		case r.Phase == cluster.PhaseOrdered || r.Phase == cluster.PhaseBooting:
			d.InFlight++
		case (r.Phase == cluster.PhaseSelected || r.Phase == cluster.PhaseDraining) && !r.Cancel:
			if n := ix.nodes[r.NodeID]; n != nil && n.Ready {
				reclaimable = append(reclaimable, r)
			}
		}
		if r.Phase.Counts() {
			d.Active++
		} else if r.Phase.Exists() {
			d.Leaving++
		}
		if r.Phase.Exists() {
			exists++
		}
	}

	// Tasks that need room in this pool: pending for resources, plus those this
	// tick's scale-ups are about to create (so machines come in one step).
	var items []cluster.Resources
	var itemApps []string
	appNames := make([]string, 0, len(ix.apps))
	for n := range ix.apps {
		appNames = append(appNames, n)
	}
	sort.Strings(appNames)
	for _, name := range appNames {
		app := ix.apps[name]
		if poolFor(cfg, app, ix) != pool.Name {
			continue
		}
		svc := ix.services[name]
		live := 0
		for _, t := range ix.tasks[name] {
			live++
			if t.State == cluster.TaskPending && (t.Reason == "" || t.PendingForResources()) && !t.Reservation.IsZero() {
				items = append(items, t.Reservation)
				itemApps = append(itemApps, name)
			}
		}
		want := 0
		if ad := ix.appDecision[name]; ad != nil && (ad.Action == ActScale || ad.Action == ActDeploy) {
			want = ad.Desired
		} else if svc != nil {
			want = svc.Desired
		}
		res := reservation(app, svc)
		if res.IsZero() {
			continue // Swarm places such tasks anywhere; no machine can help.
		}
		for i := live; i < want; i++ {
			items = append(items, res)
			itemApps = append(itemApps, name)
		}
	}
	d.NeedRoom = len(items)

	var bins []capacity.Bin
	for _, n := range sortedNodes(ix.nodes) {
		if n.Pool == pool.Name && n.Schedulable() {
			if r := recordOfNode(ix, n); r != nil && !r.Phase.Counts() {
				continue
			}
			bins = append(bins, capacity.Bin{ID: n.ID, Free: n.Capacity.Sub(ix.reserved[n.ID])})
		}
	}
	for _, r := range sortedRecords(ix.records) {
		if r.Pool == pool.Name && (r.Phase == cluster.PhaseOrdered || r.Phase == cluster.PhaseBooting) {
			free := shape
			if r.NodeID != "" {
				free = free.Sub(ix.reserved[r.NodeID])
			}
			bins = append(bins, capacity.Bin{ID: "machine:" + r.Name, Free: free})
		}
	}
	res := capacity.Pack(shape, bins, items)
	unfitSet := map[string]bool{}
	for _, i := range res.Unfit {
		unfitSet[itemApps[i]] = true
	}
	for a := range unfitSet {
		d.Unfit = append(d.Unfit, a)
	}
	sort.Strings(d.Unfit)
	need := res.NewMachines
	var acts []MachineAction
	// Draining machines are cheaper than new ones: take them back first.
	if need > 0 && len(reclaimable) > 0 {
		more := append([]capacity.Bin(nil), bins...)
		for _, r := range reclaimable {
			n := ix.nodes[r.NodeID]
			more = append(more, capacity.Bin{ID: "reclaim:" + r.Name, Free: n.Capacity.Sub(ix.reserved[n.ID])})
		}
		res2 := capacity.Pack(shape, more, items)
		used := map[string]bool{}
		for _, b := range res2.Placed {
			if strings.HasPrefix(b, "reclaim:") {
				used[strings.TrimPrefix(b, "reclaim:")] = true
			}
		}
		for _, r := range reclaimable {
			if used[r.Name] {
				d.Reclaim = append(d.Reclaim, r.Name)
				acts = append(acts, MachineAction{Machine: r.Name, Pool: pool.Name, Node: r.NodeID, From: r.Phase, To: cluster.PhaseReady, Action: MActActivate, Reason: "scale-in cancelled: its room is needed"})
				r.Phase = cluster.PhaseReady
				d.Active++
				d.Leaving--
			}
		}
		need = res2.NewMachines
	}
	why := ""
	if need > 0 {
		why = fmt.Sprintf("%d tasks need room; %d machines of %s hold them", len(items)-len(res.Unfit), need, shape)
	}
	if d.Active+need < pool.Min {
		need = pool.Min - d.Active
		why = fmt.Sprintf("below min %d", pool.Min)
	}
	manualUp := manualScaleUp(&d, s, pool.Name, &need, &why)
	if len(d.Unfit) > 0 {
		why = strings.TrimPrefix(why+fmt.Sprintf("; tasks of %s fit no machine of %s", strings.Join(d.Unfit, ", "), shape), "; ")
	}
	if need > 0 {
		if perr, bad := s.ProviderErr[pool.Name]; bad {
			d.Action, d.HoldKind = ActHold, "provider"
			d.Reason = fmt.Sprintf("wanted %d machines, held: provider unavailable: %s", need, perr)
			return d, acts
		}
		allowed := pool.Max - exists
		if allowed <= 0 {
			d.Action, d.HoldKind = ActHold, "max"
			d.Reason = fmt.Sprintf("wanted %d machines, held: %d of max %d exist (%s)", need, exists, pool.Max, why)
			return d, acts
		}
		d.Create = min(need, allowed)
		d.ManualDone = d.ManualDone || (manualUp && d.Create == need)
		d.Action, d.Reason = ActScale, why
		if d.Create < need {
			d.Reason += fmt.Sprintf("; capped at max %d (wanted %d)", pool.Max, need)
		}
		m.lastPoolUp[pool.Name] = now
		resetUnneeded(m, ix, pool.Name)
		return d, acts
	}
	if len(d.Reclaim) > 0 {
		d.Action, d.Reason = ActScale, fmt.Sprintf("returned %s to service", strings.Join(d.Reclaim, ", "))
		resetUnneeded(m, ix, pool.Name)
		return d, acts
	}
	if len(d.Unfit) > 0 {
		d.Action, d.HoldKind, d.Reason = ActHold, "unfit", why
	}

	// Scale-in: replicas go first (the app decisions), then nodes that stayed
	// unneeded long enough; never while tasks wait or machines boot.
	manual := manualScaleDown(&d)
	blocked := ""
	switch {
	case pool.ScaleDown.Disabled && manual == 0:
		blocked = "scale-down disabled"
	case d.NeedRoom > 0:
		blocked = fmt.Sprintf("%d tasks need room", d.NeedRoom)
	case d.InFlight > 0:
		blocked = fmt.Sprintf("%d machines booting", d.InFlight)
	case s.ProviderErr[pool.Name] != "":
		blocked = "provider unavailable"
	case now.Sub(m.lastPoolUp[pool.Name]) < pool.Cooldown.D() && !m.lastPoolUp[pool.Name].IsZero() && manual == 0:
		blocked = fmt.Sprintf("within %s of a scale-up", pool.Cooldown)
	}
	if blocked != "" {
		resetUnneeded(m, ix, pool.Name)
		if d.Action == "" {
			d.Action, d.Reason = ActNone, "no scale-in: "+blocked
		}
		if manual > 0 {
			d.Reason += fmt.Sprintf("; the operator's request for %d waits", d.Manual.Target)
		}
		return d, acts
	}
	var nodes []capacity.Node
	type cand struct {
		rec   *cluster.MachineRecord
		share float64
	}
	var cands []cand
	for _, n := range sortedNodes(ix.nodes) {
		if n.Pool != pool.Name || !n.Schedulable() {
			continue
		}
		var moving []cluster.Resources
		for _, t := range ix.onNode[n.ID] {
			if !t.Global {
				moving = append(moving, t.Reservation)
			}
		}
		nodes = append(nodes, capacity.Node{ID: n.ID, Capacity: n.Capacity, Tasks: moving, Reserved: ix.reserved[n.ID], Receives: true,
			Ceiling: scaled(n.Capacity, pool.ScaleDown.ConsolidateShare())})
		r := recordOfNode(ix, n)
		if r == nil || r.Phase != cluster.PhaseReady || n.Manager {
			continue // only machines hoist made, in service, and never a manager
		}
		cands = append(cands, cand{r, ix.reserved[n.ID].Share(n.Capacity)})
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].share < cands[j].share })
	limit := d.Active - pool.Min
	// Two ways for a node to be unneeded: below the share (Cluster
	// Autoscaler's rule), its tasks fitting anywhere; or, consolidating, any
	// node whose tasks fit on the others without taking them above the
	// consolidation share (Swarm spreads tasks, so nodes are often all just
	// above the share, and the first rule alone would keep them all).
	consolidate := pool.ScaleDown.ConsolidateShare()
	var all []string
	var low []capacity.Candidate
	capped := map[string]bool{}
	recOf := map[string]*cluster.MachineRecord{}
	for _, c := range cands {
		id := c.rec.NodeID
		all = append(all, id)
		recOf[id] = c.rec
		switch {
		case c.share < pool.ScaleDown.Below:
			low = append(low, capacity.Candidate{ID: id})
		case consolidate > 0:
			low = append(low, capacity.Candidate{ID: id, Capped: true})
			capped[id] = true
		}
	}
	var chosen []string
	reason := ""
	if manual > 0 {
		chosen = capacity.Removable(nodes, all, min(limit, manual))
		d.ManualDone = true
		reason = fmt.Sprintf("operator asked for %d machines (%s)", d.Manual.Target, d.Manual.Reason)
		if len(chosen) < manual {
			reason += fmt.Sprintf("; %d of %d can go: the others are at min or their tasks cannot move", len(chosen), manual)
		}
	} else {
		unneeded := capacity.RemovableCapped(nodes, low, limit)
		keep := map[string]bool{}
		var matured []capacity.Candidate
		for _, id := range unneeded {
			keep[id] = true
			since, ok := m.unneeded[id]
			if !ok {
				m.unneeded[id] = now
				since = now
			}
			if now.Sub(since) >= pool.ScaleDown.For.D() {
				matured = append(matured, capacity.Candidate{ID: id, Capped: capped[id]})
			}
		}
		for _, n := range sortedNodes(ix.nodes) {
			if n.Pool == pool.Name && !keep[n.ID] {
				delete(m.unneeded, n.ID)
			}
		}
		chosen = capacity.RemovableCapped(nodes, matured, limit)
		reason = fmt.Sprintf("reserved below %.0f%% for %s and its tasks fit elsewhere", pool.ScaleDown.Below*100, pool.ScaleDown.For)
	}
	for _, id := range chosen {
		r := recOf[id]
		delete(m.unneeded, id)
		d.Remove = append(d.Remove, r.Name)
		share := ix.reserved[id].Share(ix.nodes[id].Capacity)
		why := fmt.Sprintf("%s (reserved %.0f%%)", reason, share*100)
		if capped[id] {
			why = fmt.Sprintf("consolidation: unneeded for %s, its tasks (reserved %.0f%%) fit on the other nodes below %.0f%%", pool.ScaleDown.For, share*100, consolidate*100)
		}
		acts = append(acts, MachineAction{Machine: r.Name, Pool: pool.Name, Node: id, From: cluster.PhaseReady, To: cluster.PhaseDraining, Action: MActSelect, Reason: why})
		r.Phase = cluster.PhaseDraining
	}
	if len(chosen) > 0 {
		d.Action, d.Reason = ActScale, fmt.Sprintf("scale in %s: %s", strings.Join(d.Remove, ", "), reason)
	} else if d.Action == "" {
		d.Action, d.Reason = ActNone, fmt.Sprintf("%d nodes unneeded, waiting %s", len(low), pool.ScaleDown.For)
		if len(low) == 0 {
			d.Reason = "no node below the scale-down share"
		}
		if limit <= 0 {
			d.Reason = fmt.Sprintf("at min %d", pool.Min)
		}
	}
	return d, acts
}

// scaled returns share of r (0: none).
func scaled(r cluster.Resources, share float64) cluster.Resources {
	if share <= 0 {
		return cluster.Resources{}
	}
	return cluster.Resources{MilliCPU: int64(float64(r.MilliCPU) * share), Memory: int64(float64(r.Memory) * share)}
}

func resetUnneeded(m *memory, ix *index, pool string) {
	for id, n := range ix.nodes {
		if n.Pool == pool {
			delete(m.unneeded, id)
		}
	}
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
