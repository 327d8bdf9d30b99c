package engine

import (
	"slices"
	"strings"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
)

// index is the snapshot arranged for lookups.
type index struct {
	onNode    map[string][]*cluster.Task // by node ID, into the snapshot's tasks
	nodes     map[string]*cluster.Node
	byMachine map[string]*cluster.Node
	reserved  map[string]cluster.Resources
	stopping  map[string]int // tasks stopping, by node ID (their room is not counted: see addStopping)
	records   map[string]*cluster.MachineRecord
	provider  map[string]map[string]cluster.Machine // pool -> name -> machine
	// Filled after the lifecycle step, which may adopt machines.
	recByNode map[string]*cluster.MachineRecord
	exists    map[string]int // pool -> machines that may still exist
	// votes is where the apps' vote lists are cut from (see voteSlice):
	// new for each decision, since its plan keeps them.
	votes []PolicyVote
	// placed counts the tasks on a node; nodesSorted and recsSorted are
	// filled on first use (see sortedNodes, sortedRecords) and kept while
	// what they sort is: haveNodes is cleared where ix.nodes is filled
	// (indexState), haveRecs where ix.records is (buildIndex, lifecycle's
	// adoptions).
	placed              int
	nodesSorted         []*cluster.Node
	recsSorted          []*cluster.MachineRecord
	haveNodes, haveRecs bool
	// byName is the apps by name, one per name, with their decisions:
	// what the pools' decisions walk (see appViews).
	byName []appView
	scratch
}

// appView is one app as the pools' decisions see it: looked up once per
// decision instead of once per pool and question (10,000 apps: 40,000 map
// lookups a pool).
type appView struct {
	app   *config.App
	svc   *cluster.Service // nil before it is deployed
	tasks []*cluster.Task
	d     *AppDecision
	pool  string // poolFor(app)
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

// afterLifecycle builds the lookups that depend on the records' new phases,
// unless they were built from the same: the same records (in name order)
// with the same node, pool and existence each (lifeKey).
func (ix *index) afterLifecycle() {
	recs := ix.sortedRecords()
	kept := ix.scratch.life
	if ix.recByNode != nil && len(kept) == len(recs) {
		same := true
		for i, r := range recs {
			if kept[i] != (lifeKey{r, r.NodeID, r.Pool, r.Phase.Exists()}) {
				same = false
				break
			}
		}
		if same {
			return
		}
	}
	ix.recByNode = reuse(ix.recByNode, len(ix.records))
	ix.exists = reuse(ix.exists, 0)
	for _, r := range ix.records {
		if r.NodeID != "" {
			ix.recByNode[r.NodeID] = r
		}
		if r.Phase.Exists() {
			ix.exists[r.Pool]++
		}
	}
	kept = kept[:0]
	for _, r := range recs {
		kept = append(kept, lifeKey{r, r.NodeID, r.Pool, r.Phase.Exists()})
	}
	ix.scratch.life = kept
}

// lifeKey is what afterLifecycle reads of a record.
type lifeKey struct {
	rec        *cluster.MachineRecord
	node, pool string
	exists     bool
}

// reuse returns m emptied, or a new map sized for n when m is nil: the
// loop's tick keeps its index from one tick to the next (see scratch), so
// its maps are cleared rather than made and grown again every tick.
func reuse[K comparable, V any](m map[K]V, n int) map[K]V {
	if m == nil {
		return make(map[K]V, n)
	}
	clear(m)
	return m
}

// scratch is what an index keeps between the loop's ticks besides its maps:
// nothing in it outlives the decision that fills it.
type scratch struct {
	// svc numbers the services, then the other services the tasks name;
	// svcs holds each slot's service (nil for tasks without one). See
	// service.
	svc, node       grouping
	svcs            []*cluster.Service
	svcBuf, nodeBuf []*cluster.Task
	taskSvc         []int // each task's slot in svc
	taskNode        []int // each task's slot in node, -1 unplaced
	poolMaps        map[string]map[string]cluster.Machine
	listed          map[string][]cluster.Machine // a copy of the listing each pool map holds
	recs            []cluster.MachineRecord      // the records' copies (index.records)
	names, pools    []string                     // lifecycle's records and pools by name
	down            scaleInScratch
	state           keptState // what the state's lookups were made from
	reasons         poolReasons
	life            []lifeKey // what afterLifecycle's lookups were made from
	// appOrder is the apps' order by name (indices into the snapshot's
	// Apps) as last sorted: kept while it still holds, since the apps
	// rarely change from one tick to the next.
	appOrder []int
	// each app's service and tasks, index-aligned with the snapshot's Apps
	appSvc   []*cluster.Service
	appTasks [][]*cluster.Task
}

// grouping numbers the keys of a grouping in the order they first appear.
type grouping struct {
	slot   map[string]int
	keys   []string
	n      []int
	res    []cluster.Resources // the node grouping's reserved sums
	groups [][]*cluster.Task
	last   int // the slot of returned last: tasks come in runs of a service
}

func (g *grouping) reset(hint int) {
	g.slot = reuse(g.slot, hint)
	if cap(g.keys) < hint { // made at the size, not grown by appends
		g.keys, g.n, g.res, g.groups = make([]string, 0, hint), make([]int, 0, hint), make([]cluster.Resources, 0, hint), make([][]*cluster.Task, 0, hint)
	}
	g.keys, g.n, g.res, g.groups = g.keys[:0], g.n[:0], g.res[:0], g.groups[:0]
	g.last = 0
}

// of returns key's slot, adding it if new. The key asked last is answered
// without the map: a state lists a service's tasks together (and often a
// node's), so most lookups repeat the one before.
func (g *grouping) of(key string) int {
	if g.last < len(g.keys) && g.keys[g.last] == key {
		return g.last
	}
	i, ok := g.slot[key]
	if !ok {
		i = len(g.keys)
		g.slot[key] = i
		g.keys = append(g.keys, key)
		g.n = append(g.n, 0)
		g.res = append(g.res, cluster.Resources{})
	}
	g.last = i
	return i
}

// cut gives each slot an empty group of capacity its count, from buf.
func (g *grouping) cut(buf []*cluster.Task) {
	for _, n := range g.n {
		g.groups = append(g.groups, buf[:0:n])
		buf = buf[n:]
	}
}

// groupTasks lists the tasks by service and by node, each in the observed
// order, as pointers into tasks (the decision changes none of them), and
// sums each node's reservations (as State.Reserved). Two passes, so that
// each grouping is one buffer cut into exact slices (capacity = length: an
// append to one group copies instead of overwriting the next) rather than a
// slice grown per key; keys are numbered on the first pass, so a task costs
// two map lookups, not one per count, group and append. The service
// grouping goes on from the services numbered by buildIndex.
func (ix *index) groupTasks(tasks []cluster.Task, nodes int) {
	sc := &ix.scratch
	sc.node.reset(nodes)
	if cap(sc.taskSvc) < len(tasks) {
		sc.taskSvc, sc.taskNode = make([]int, len(tasks)), make([]int, len(tasks))
	}
	taskSvc, taskNode := sc.taskSvc[:len(tasks)], sc.taskNode[:len(tasks)]
	placed := 0
	for i := range tasks {
		t := &tasks[i]
		si := sc.svc.of(t.Service)
		sc.svc.n[si]++
		taskSvc[i], taskNode[i] = si, -1
		if t.NodeID == "" {
			continue
		}
		ni := sc.node.of(t.NodeID)
		sc.node.n[ni]++
		sc.node.res[ni] = sc.node.res[ni].Add(t.Reservation)
		taskNode[i] = ni
		placed++
	}
	if cap(sc.svcBuf) < len(tasks) {
		sc.svcBuf = make([]*cluster.Task, len(tasks))
	}
	if cap(sc.nodeBuf) < placed {
		sc.nodeBuf = make([]*cluster.Task, placed)
	}
	sc.svc.cut(sc.svcBuf[:len(tasks)])
	sc.node.cut(sc.nodeBuf[:placed])
	ix.placed = placed
	for i := range tasks {
		t := &tasks[i]
		sc.svc.groups[taskSvc[i]] = append(sc.svc.groups[taskSvc[i]], t)
		if ni := taskNode[i]; ni >= 0 {
			sc.node.groups[ni] = append(sc.node.groups[ni], t)
		}
	}
	ix.onNode = reuse(ix.onNode, len(sc.node.keys))
	for i, k := range sc.node.keys {
		ix.onNode[k] = sc.node.groups[i]
		ix.reserved[k] = sc.node.res[i]
	}
}

// addStopping counts the tasks stopping on each node (see
// cluster.State.Stopping); nil when none stop, as on most ticks. Their room
// is not counted as reserved: it frees within seconds, and a machine ordered
// or a drain cancelled for it would come long after it had freed (a drain
// on the real stack was cancelled so: the replacement of the drained
// node's task did not fit beside a task that was still stopping).
func (ix *index) addStopping(stopping []cluster.Task) {
	ix.stopping = nil
	for _, t := range stopping {
		if t.NodeID == "" || t.Global {
			continue // a global task (the agent) never moves and never holds a drain, as movableTasks
		}
		if ix.stopping == nil {
			ix.stopping = map[string]int{}
		}
		ix.stopping[t.NodeID]++
	}
}

// buildIndex arranges s for lookups, into ix's maps when ix is not nil (the
// loop's index from its previous tick), else into a new index.
func buildIndex(s *Snapshot, ix *index) *index {
	if ix == nil {
		ix = &index{}
	}
	ix.provider = reuse(ix.provider, len(s.Machines))
	ix.votes = nil
	if !ix.stateHolds(&s.State) {
		ix.indexState(&s.State)
	}
	// The decision moves its own copies of the records (later steps see
	// the phases as they will be); the snapshot stays as observed. The
	// last decision's copies and map are kept when they are still the
	// snapshot's records: it moved no phase of them, adopted no machine
	// into the map, and no record changed since (records change a few times
	// an hour, decisions come every few seconds).
	if !ix.recordsHold(s.Records) {
		ix.records = reuse(ix.records, len(s.Records))
		ix.haveRecs = false
		ix.scratch.recs = append(ix.scratch.recs[:0], s.Records...) // one buffer for all the copies
		recs := ix.scratch.recs
		for i := range recs {
			ix.records[recs[i].Name] = &recs[i]
		}
	}
	// Each pool's map is kept from the last tick and refilled (poolMaps
	// itself is not cleared, or every map would be made again), unless the
	// provider listed the same machines as last time (compared with a copy
	// of that listing), which leaves it as it is: nothing writes these maps.
	if ix.scratch.poolMaps == nil {
		ix.scratch.poolMaps = make(map[string]map[string]cluster.Machine, len(s.Machines))
		ix.scratch.listed = make(map[string][]cluster.Machine, len(s.Machines))
	}
	for pool, ms := range s.Machines {
		m := ix.scratch.poolMaps[pool]
		last, seen := ix.scratch.listed[pool]
		switch {
		case m == nil:
			m = make(map[string]cluster.Machine, len(ms))
			ix.scratch.poolMaps[pool] = m
		case seen && slices.Equal(last, ms):
			ix.provider[pool] = m
			continue
		default:
			clear(m)
		}
		for _, x := range ms {
			m[x.Name] = x
		}
		ix.scratch.listed[pool] = append(last[:0], ms...)
		ix.provider[pool] = m
	}
	return ix
}

// indexState arranges the cluster's state: services, tasks by service and
// by node, nodes by ID and machine, each node's reservations. It keeps what
// stateHolds compares.
func (ix *index) indexState(st *cluster.State) {
	ix.nodes = reuse(ix.nodes, len(st.Nodes))
	ix.haveNodes = false
	ix.byMachine = reuse(ix.byMachine, len(st.Nodes))
	ix.reserved = reuse(ix.reserved, len(st.Nodes))
	sc := &ix.scratch
	sc.svc.reset(len(st.Services))
	sc.svcs = sc.svcs[:0]
	for i := range st.Services {
		k := sc.svc.of(st.Services[i].Name)
		if k == len(sc.svcs) {
			sc.svcs = append(sc.svcs, nil)
		}
		sc.svcs[k] = &st.Services[i] // the last of a name, as a map keeps
	}
	ix.groupTasks(st.Tasks, len(st.Nodes))
	ix.addStopping(st.Stopping)
	for len(sc.svcs) < len(sc.svc.keys) {
		sc.svcs = append(sc.svcs, nil) // tasks of a service not in the state
	}
	for i := range st.Nodes {
		n := &st.Nodes[i]
		ix.nodes[n.ID] = n
		if n.Machine != "" {
			ix.byMachine[n.Machine] = n
		}
	}
	k := &sc.state
	k.ok = true
	k.services, k.tasks, k.nodes, k.stopping = st.Services, st.Tasks, st.Nodes, st.Stopping
	k.read = appendReads(k.read[:0], st)
}

// appendReads appends what indexState reads of each element of st: the
// services', the tasks', the nodes', then the stopping tasks' (keptRead).
// indexState keeps them and stateHolds compares them, from this one list.
func appendReads(dst []keptRead, st *cluster.State) []keptRead {
	for i := range st.Services {
		dst = append(dst, keptRead{a: st.Services[i].Name})
	}
	for i := range st.Tasks {
		t := &st.Tasks[i]
		dst = append(dst, keptRead{a: t.Service, b: t.NodeID, r: t.Reservation})
	}
	for i := range st.Nodes {
		dst = append(dst, keptRead{a: st.Nodes[i].ID, b: st.Nodes[i].Machine})
	}
	for i := range st.Stopping {
		dst = append(dst, keptRead{b: st.Stopping[i].NodeID})
	}
	return dst
}

// keptState is the state an index's lookups were made from (indexState):
// its slices, which the lookups point into, and what indexState read of
// each element (everything else the decision reads through the pointers).
type keptState struct {
	ok       bool
	services []cluster.Service
	tasks    []cluster.Task
	nodes    []cluster.Node
	stopping []cluster.Task
	read     []keptRead // appendReads of the state
	now      []keptRead // stateHolds' buffer for the state it is asked about
}

// keptRead is what indexState reads of a service (its name), a task (its
// service, node and reservation), a node (its ID and machine) or a stopping
// task (its node).
type keptRead struct {
	a, b string
	r    cluster.Resources
}

// stateHolds reports whether the index's lookups of the state are still
// those indexState would make of st: st holds the very slices they were
// made from (an orchestrator that answers with its last state while
// nothing changed, as the simulator does: most ticks), and each element
// still has the fields they were made from.
func (ix *index) stateHolds(st *cluster.State) bool {
	k := &ix.scratch.state
	if !k.ok || !sameSlice(k.services, st.Services) || !sameSlice(k.tasks, st.Tasks) || !sameSlice(k.nodes, st.Nodes) ||
		!sameSlice(k.stopping, st.Stopping) {
		return false
	}
	k.now = appendReads(k.now[:0], st)
	return slices.Equal(k.now, k.read)
}

// recordsHold reports whether ix.records is still the copies of recs that
// buildIndex would make: as many records in the map as copies, as many
// copies as recs, and each copy the same record as recs' (sameRecord).
func (ix *index) recordsHold(recs []cluster.MachineRecord) bool {
	if ix.records == nil || len(ix.records) != len(recs) || len(ix.scratch.recs) != len(recs) {
		return false
	}
	for i := range recs {
		if !sameRecord(&ix.scratch.recs[i], &recs[i]) {
			return false
		}
	}
	return true
}

// service returns the service named name (nil when the state has none) and
// its tasks: one lookup for both.
func (ix *index) service(name string) (*cluster.Service, []*cluster.Task) {
	k, ok := ix.scratch.svc.slot[name]
	if !ok {
		return nil, nil
	}
	return ix.scratch.svcs[k], ix.scratch.svc.groups[k]
}

// decide is the whole decision: machine lifecycles by observation, then
// replicas per app, then machines per pool, then services to prune. It does
// no I/O and changes none of its arguments: it returns the plan and the
// memory the next decision starts from.
func decide(cfg *config.Config, s *Snapshot, prev *memory) (*Plan, *memory) {
	m := prev.clone()
	return decideInto(cfg, s, m, nil), m
}

// decideInto is decide changing m in place into the next memory: the loop's
// tick, which replaces its memory with the next one anyway, saves the copy
// (per app and policy, every tick). Dry runs decide on a copy. ix, when
// not nil, is the index of an earlier decision, whose maps are reused.
func decideInto(cfg *config.Config, s *Snapshot, m *memory, ix *index) *Plan {
	fresh := len(m.apps) == 0 && len(s.Apps) > 0
	if fresh {
		// A new memory (the first tick, a reset): made at the apps' number
		// rather than grown through every size as decideApp adds them.
		m.apps = make(map[string]*appMemory, len(s.Apps))
	}
	for pool, t := range s.Ordered {
		if t.After(m.lastPoolUp[pool]) {
			m.lastPoolUp[pool] = t
		}
	}
	p := &Plan{Time: s.Time}
	ix = buildIndex(s, ix)
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
	sc := &ix.scratch
	sc.appSvc, sc.appTasks = resize(sc.appSvc, len(s.Apps)), resize(sc.appTasks, len(s.Apps))
	for i := range s.Apps {
		sc.appSvc[i], sc.appTasks[i] = ix.service(s.Apps[i].Name)
	}
	if fresh {
		m.startApps(s.Apps, sc.appSvc)
	}
	for i := range s.Apps {
		d := decideApp(cfg, &s.Apps[i], sc.appSvc[i], sc.appTasks[i], s, ix, m)
		p.Apps = append(p.Apps, d)
	}
	ix.appViews(cfg, s, p)
	if len(cfg.Pools) > 0 { // nil without pools, as the appends left it
		p.Pools = make([]PoolDecision, 0, len(cfg.Pools))
	}
	for i := range cfg.Pools {
		d, acts := decidePool(cfg, &cfg.Pools[i], s, ix, m)
		p.Pools = append(p.Pools, d)
		p.Machines = append(p.Machines, acts...)
		for _, name := range d.Reclaim {
			// Taken back: not removed after all.
			p.Machines = slices.DeleteFunc(p.Machines, func(a MachineAction) bool { return a.Machine == name && a.Action == MActRemove })
		}
	}
	p.Prune = decidePrune(s, m, ix.isApp)
	return p
}

// resize returns buf with length n, reusing its memory when large enough;
// callers overwrite every element.
func resize[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	return buf[:n]
}

// appViews fills ix.byName: the apps in name order, one per name (the last
// of a name, as a map by name would keep), each with its
// service, tasks, decision and pool. The order is sorted again only when
// the one kept from the last decision no longer holds: same number of
// apps, names strictly increasing along it (so it is a permutation of the
// apps with unique names, and sorted).
func (ix *index) appViews(cfg *config.Config, s *Snapshot, p *Plan) {
	sc := &ix.scratch
	if !orderHolds(sc.appOrder, s.Apps) {
		order := resize(sc.appOrder, len(s.Apps))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(s.Apps[a].Name, s.Apps[b].Name) })
		// One per name, the last (stable sort: the highest index of a run).
		out := order[:0]
		for k, i := range order {
			if k+1 < len(order) && s.Apps[order[k+1]].Name == s.Apps[i].Name {
				continue
			}
			out = append(out, i)
		}
		sc.appOrder = out
	}
	ix.byName = resize(ix.byName, len(sc.appOrder))
	for k, i := range sc.appOrder {
		app := &s.Apps[i]
		ix.byName[k] = appView{app: app, svc: sc.appSvc[i], tasks: sc.appTasks[i], d: &p.Apps[i], pool: poolFor(cfg, app, ix)}
	}
}

// isApp reports whether one of the apps is named name (after appViews).
func (ix *index) isApp(name string) bool {
	_, found := slices.BinarySearchFunc(ix.byName, name, func(v appView, name string) int { return strings.Compare(v.app.Name, name) })
	return found
}

// orderHolds reports whether order lists every one of apps with names
// strictly increasing.
func orderHolds(order []int, apps []config.App) bool {
	if len(order) != len(apps) {
		return false
	}
	for k := 1; k < len(order); k++ {
		if apps[order[k-1]].Name >= apps[order[k]].Name {
			return false
		}
	}
	return true
}

func recordOfNode(ix *index, n *cluster.Node) *cluster.MachineRecord {
	if n.Machine != "" {
		if r, ok := ix.records[n.Machine]; ok {
			return r
		}
	}
	return ix.recByNode[n.ID]
}

// sortedRecords is ix.records by name, sorted again only after records were
// added (see haveRecs). Callers only read it, and not across an adoption.
func (ix *index) sortedRecords() []*cluster.MachineRecord {
	if !ix.haveRecs {
		ix.recsSorted, ix.haveRecs = sortedRecords(ix.recsSorted[:0], ix.records), true
	}
	return ix.recsSorted
}

// sortedNodes is ix.nodes by ID, sorted again only after ix.nodes was
// filled again (see haveNodes). Callers only read it.
func (ix *index) sortedNodes() []*cluster.Node {
	if !ix.haveNodes {
		ix.nodesSorted, ix.haveNodes = sortedNodes(ix.nodesSorted[:0], ix.nodes), true
	}
	return ix.nodesSorted
}

// sortedRecords appends m's records to out and sorts them by name.
func sortedRecords(out []*cluster.MachineRecord, m map[string]*cluster.MachineRecord) []*cluster.MachineRecord {
	for _, r := range m {
		out = append(out, r)
	}
	// slices, not sort: sort.Slice allocates a swapper per call.
	slices.SortFunc(out, func(a, b *cluster.MachineRecord) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// sortedNodes appends m's nodes to out and sorts them by ID.
func sortedNodes(out []*cluster.Node, m map[string]*cluster.Node) []*cluster.Node {
	for _, n := range m {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *cluster.Node) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// lessCmp orders a before b exactly when a < b (0 otherwise, NaN included):
// a sort by it decides as sort's with less "a < b" did.
func lessCmp(a, b float64) int {
	switch {
	case a < b:
		return -1
	case b < a:
		return 1
	}
	return 0
}
