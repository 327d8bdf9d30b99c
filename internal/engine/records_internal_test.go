package engine

import (
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
)

// sameRecord must see a change to any field of a record: a field it missed
// would leave snapshots with a stale copy. Each field of MachineRecord,
// found by reflection (so a field added later is tried too), is changed in
// turn on a copy and must make sameRecord false.
func TestSameRecordSeesEveryField(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	base := cluster.MachineRecord{Name: "m1", Pool: "p", Phase: cluster.PhaseReady, NodeID: "n1",
		OrderedAt: t0, Since: t0.Add(time.Minute), Attempts: 1, NextTry: t0.Add(2 * time.Minute),
		LastErr: "e", Cancel: false,
		History: []cluster.PhaseChange{{Phase: cluster.PhaseOrdered, Time: t0}, {Phase: cluster.PhaseReady, Time: t0.Add(time.Minute)}}}
	copyOf := func(r *cluster.MachineRecord) cluster.MachineRecord {
		c := *r
		c.History = r.History[:len(r.History):len(r.History)]
		return c
	}
	c := copyOf(&base)
	if !sameRecord(&c, &base) {
		t.Fatal("a copy is not the same record")
	}
	typ := reflect.TypeFor[cluster.MachineRecord]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		r := base
		r.History = append([]cluster.PhaseChange(nil), base.History...)
		c := copyOf(&base)
		c.History = r.History[:len(r.History):len(r.History)]
		v := reflect.ValueOf(&r).Elem().Field(i)
		switch {
		case f.Type == reflect.TypeFor[time.Time]():
			v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Nanosecond)))
		case v.Kind() == reflect.String:
			v.SetString(v.String() + "x")
		case v.Kind() == reflect.Int:
			v.SetInt(v.Int() + 1)
		case v.Kind() == reflect.Bool:
			v.SetBool(!v.Bool())
		case f.Name == "History":
			r.History = append(r.History, cluster.PhaseChange{Phase: cluster.PhaseSelected, Time: t0})
		default:
			t.Fatalf("field %s (%s): teach this test to change it, and sameRecord to compare it", f.Name, f.Type)
		}
		if sameRecord(&c, &r) {
			t.Errorf("field %s changed, sameRecord still true", f.Name)
		}
	}
	// The same history's contents in another array is another history (the
	// copy shares the record's; a replaced history is a change).
	r := base
	r.History = append([]cluster.PhaseChange(nil), base.History...)
	if c := copyOf(&base); sameRecord(&c, &r) {
		t.Error("a history in another array counted as the same")
	}
}

// recordCopies shares its copies while no record changed and copies again
// after any change; the copies equal the records either way.
func TestRecordCopiesSharedUntilAChange(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	e := &Engine{records: map[string]*cluster.MachineRecord{}}
	if got := e.recordCopies(); got != nil {
		t.Fatalf("no records: %v, want nil", got)
	}
	for _, n := range []string{"a", "b", "c"} {
		r := &cluster.MachineRecord{Name: n, Pool: "p", OrderedAt: t0}
		r.SetPhase(cluster.PhaseOrdered, t0, "ordered")
		e.records[n] = r
	}
	check := func(copies []cluster.MachineRecord) {
		t.Helper()
		if len(copies) != len(e.records) {
			t.Fatalf("%d copies of %d records", len(copies), len(e.records))
		}
		for _, c := range copies {
			if want := e.records[c.Name].Clone(); !reflect.DeepEqual(c, want) {
				t.Fatalf("copy %+v, record %+v", c, want)
			}
		}
	}
	first := e.recordCopies()
	check(first)
	if again := e.recordCopies(); &again[0] != &first[0] {
		t.Error("unchanged records copied again")
	}
	e.records["b"].SetPhase(cluster.PhaseBooting, t0.Add(time.Second), "booting")
	second := e.recordCopies()
	check(second)
	if &second[0] == &first[0] {
		t.Fatal("a changed record left the old copies shared")
	}
	if first[0].Phase != cluster.PhaseOrdered || first[1].Phase != cluster.PhaseOrdered || first[2].Phase != cluster.PhaseOrdered {
		t.Error("the earlier snapshot's copies changed")
	}
	delete(e.records, "a")
	check(e.recordCopies())
	e.records["d"] = &cluster.MachineRecord{Name: "d", Pool: "p"}
	check(e.recordCopies())
}

// The loop's index keeps its record copies and provider maps from one
// decision to the next while they still hold; each decision must be the one
// a fresh index gives: after the decision moved phases on its copies, after
// a machine was adopted into the map, after records and listings changed
// (one listing changed in place), and on unchanged snapshots.
func TestKeptIndexDecidesAsAFreshOne(t *testing.T) {
	cfg, err := config.Parse("decide.yaml", []byte(decideConfig))
	if err != nil {
		t.Fatal(err)
	}
	w := new(dworld).node("n1", cluster.PhaseReady, 2).node("n2", cluster.PhaseOrdered, 1)
	base := w.snapshot(cfg, 3, Sample{Value: 30, OK: true})
	listing := base.Machines["workers"]
	ready := cloneSnapshot(base)
	ready.Records[1].SetPhase(cluster.PhaseReady, dt0, "ready")
	adopt := cloneSnapshot(ready)
	adopt.Machines = map[string][]cluster.Machine{"workers": append(slices.Clone(listing), cluster.Machine{Name: "m9", Status: cluster.MachineCreating})}
	steps := []struct {
		name string
		snap *Snapshot
		edit func() // applied to the listing before the step
	}{
		{"m2 ordered, its node ready: lifecycle moves it", base, nil},
		{"the same records again (the copies were moved)", base, nil},
		{"m2 ready in the records", ready, nil},
		{"unchanged", ready, nil},
		{"a machine to adopt", adopt, nil},
		{"the same again (the map has the adopted one)", adopt, nil},
		{"back to the records' machines", ready, nil},
		{"m1 failed at the provider, the listing changed in place", ready, func() { listing[0].Status = cluster.MachineFailed }},
		{"unchanged again", ready, nil},
	}
	kept, fresh := newMemory(), newMemory()
	var ix *index
	for _, st := range steps {
		if st.edit != nil {
			st.edit()
		}
		ix = buildIndexKeeping(ix)
		got := decideInto(cfg, shareRecords(st.snap), kept, ix)
		want := decideInto(cfg, shareRecords(st.snap), fresh, nil)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: kept index decided\n%+v\nfresh index\n%+v", st.name, got, want)
		}
		if !reflect.DeepEqual(kept, fresh) {
			t.Fatalf("%s: memories differ", st.name)
		}
	}
}

// shareRecords is cloneSnapshot with the records' histories shared, as the
// engine's snapshots share them (a history in another array is a change).
func shareRecords(s *Snapshot) *Snapshot {
	c := cloneSnapshot(s)
	c.Records = slices.Clone(s.Records)
	return c
}

// buildIndexKeeping is the loop's index for the next decision: the last one.
func buildIndexKeeping(ix *index) *index {
	if ix == nil {
		return &index{}
	}
	return ix
}

// Snapshots share the engine's map of pending requests: a change replaces
// it, and a map a snapshot holds stays as it was.
func TestRequestsReplacedNotWritten(t *testing.T) {
	e := &Engine{requests: map[string]cluster.PoolRequest{}}
	held := e.requests
	e.setRequest(cluster.PoolRequest{Pool: "p", Seq: 1, Target: 3})
	if len(held) != 0 || e.requests["p"].Target != 3 {
		t.Fatalf("held %v, engine's %v", held, e.requests)
	}
	held = e.requests
	e.setRequest(cluster.PoolRequest{Pool: "p", Seq: 2, Target: 5})
	e.setRequest(cluster.PoolRequest{Pool: "q", Seq: 3, Target: 1})
	if len(held) != 1 || held["p"].Target != 3 || len(e.requests) != 2 || e.requests["p"].Target != 5 {
		t.Fatalf("held %v, engine's %v", held, e.requests)
	}
	held = e.requests
	e.dropRequest("p")
	if len(held) != 2 || len(e.requests) != 1 || e.requests["q"].Seq != 3 {
		t.Fatalf("held %v, engine's %v", held, e.requests)
	}
}

// The index keeps its lookups of the state while the orchestrator answers
// with the same slices, unchanged in what they were made from. A decision on
// the kept index must be the one a fresh index makes, whatever changed in
// place in between (what the lookups read, and what is read through them)
// or when the state is new.
func TestKeptStateDecidesAsAFreshOne(t *testing.T) {
	cfg, err := config.Parse("decide.yaml", []byte(decideConfig))
	if err != nil {
		t.Fatal(err)
	}
	// n4 drains: empty, unless a task is stopping on it.
	w := new(dworld).node("n1", cluster.PhaseReady, 2).node("n2", cluster.PhaseReady, 1).node("n3", cluster.PhaseReady, 0).node("n4", cluster.PhaseDraining, 0)
	snap := w.snapshot(cfg, 3, Sample{Value: 30, OK: true})
	st := &snap.State // shared by every step, changed in place
	pendingTask := cluster.Task{ID: "pa", Service: "web", State: cluster.TaskPending,
		Reason: "no suitable node (insufficient resources on 1 node)", Reservation: cpu(1)}
	steps := []struct {
		name string
		edit func()
	}{
		{"as observed", nil},
		{"the same state again", nil},
		{"a task moved to another node in place", func() { st.Tasks[0].NodeID = "n3" }},
		{"a task's reservation grew in place", func() { st.Tasks[1].Reservation = cpu(3) }},
		{"a task unplaced in place", func() { st.Tasks[2].NodeID = "" }},
		{"a task's state changed in place", func() { st.Tasks[2].State, st.Tasks[2].Reason = cluster.TaskPending, pendingTask.Reason }},
		{"a task of another service in place", func() { st.Tasks[0].Service = "other" }},
		{"a node no longer hoist's machine in place", func() { st.Nodes[2].Machine = "" }},
		{"two nodes' machines swapped in place", func() { st.Nodes[0].Machine, st.Nodes[1].Machine = "m2", "m1" }},
		{"a node without a machine renamed in place", func() { st.Nodes[2].ID = "n9" }},
		{"a node not ready in place", func() { st.Nodes[0].Ready = false }},
		{"the service renamed in place", func() { st.Services[0].Name = "api" }},
		{"the service back, wanting more in place", func() { st.Services[0].Name, st.Services[0].Desired = "web", 6 }},
		{"a new state with a task waiting", func() {
			st.Tasks = append(slices.Clone(st.Tasks), pendingTask)
			st.Nodes = slices.Clone(st.Nodes)
			st.Services = slices.Clone(st.Services)
		}},
		{"the same again", nil},
		{"a node of the new state not ready in place", func() { st.Nodes[1].Ready = false }},
		{"an equal state in new arrays, the old ones changed after", func() {
			tasks, nodes := st.Tasks, st.Nodes
			st.Tasks, st.Nodes = slices.Clone(tasks), slices.Clone(nodes)
			tasks[1].State, nodes[1].Ready = cluster.TaskStarting, false
		}},
		{"a task stopping on each node", func() {
			st.Stopping = nil
			for _, n := range st.Nodes {
				st.Stopping = append(st.Stopping, cluster.Task{ID: "s-" + n.ID, Service: "web", NodeID: n.ID, State: cluster.TaskRunning, Reservation: cpu(1)})
			}
		}},
		{"one of them on no node in place", func() { st.Stopping[0].NodeID = "" }},
		{"they stopped", func() { st.Stopping = nil }},
		{"fewer tasks, same array", func() { st.Tasks = st.Tasks[:2] }},
		{"no task at all", func() { st.Tasks = nil }},
	}
	kept, fresh := newMemory(), newMemory()
	ix := &index{}
	for _, step := range steps {
		if step.edit != nil {
			step.edit()
		}
		s1, s2 := *snap, *snap
		s1.Records, s2.Records = slices.Clone(snap.Records), slices.Clone(snap.Records)
		got := decideInto(cfg, &s1, kept, ix)
		want := decideInto(cfg, &s2, fresh, nil)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: kept index decided\n%+v\nfresh index\n%+v", step.name, got, want)
		}
		if !reflect.DeepEqual(kept, fresh) {
			t.Fatalf("%s: memories differ", step.name)
		}
	}
}

// A snapshot's Machines is the last snapshot's map only when that map holds
// exactly the same listings (the same slices); any other answer makes a map
// of what was listed.
func TestListingMapSharedOnlyWhenTheSame(t *testing.T) {
	a := slices.Grow([]cluster.Machine{{Name: "m1"}, {Name: "m2"}}, 2) // room beyond its length
	b := []cluster.Machine{{Name: "m3"}}
	lists := []poolListing{{"p", a}, {"q", b}}
	last := listingMap(nil, lists)
	if !reflect.DeepEqual(last, map[string][]cluster.Machine{"p": a, "q": b}) {
		t.Fatalf("first map: %v", last)
	}
	same := func(m map[string][]cluster.Machine) bool {
		return reflect.ValueOf(m).Pointer() == reflect.ValueOf(last).Pointer()
	}
	if m := listingMap(last, []poolListing{{"p", a}, {"q", b}}); !same(m) {
		t.Fatal("the same listings made a new map")
	}
	var empty []cluster.Machine
	for _, tc := range []struct {
		name  string
		lists []poolListing
	}{
		{"an equal listing in another array", []poolListing{{"p", slices.Clone(a)}, {"q", b}}},
		{"a shorter listing of the same array", []poolListing{{"p", a[:1]}, {"q", b}}},
		{"a listing of the same array with less capacity", []poolListing{{"p", a[:2:2]}, {"q", b}}},
		{"a pool not listed (its provider failed)", []poolListing{{"p", a}}},
		{"another pool", []poolListing{{"p", a}, {"r", b}}},
		{"one pool more", []poolListing{{"p", a}, {"q", b}, {"r", empty}}},
		{"none", nil},
	} {
		m := listingMap(last, tc.lists)
		want := map[string][]cluster.Machine{}
		for _, l := range tc.lists {
			want[l.pool] = l.machines
		}
		if same(m) && len(tc.lists) > 0 || !reflect.DeepEqual(m, want) {
			t.Errorf("%s: got %v (the last map: %v), want a new %v", tc.name, m, same(m), want)
		}
		for _, l := range tc.lists {
			if !sameSlice(m[l.pool], l.machines) {
				t.Errorf("%s: pool %s holds another slice", tc.name, l.pool)
			}
		}
	}
	nilList := listingMap(nil, []poolListing{{"p", nil}})
	if m := listingMap(nilList, []poolListing{{"p", []cluster.Machine{}}}); m["p"] == nil {
		t.Error("an empty listing after a nil one kept the nil")
	}
}

// The pools' reasons kept from one decision to the next say what reasons
// formatted afresh say, as they count down to a scale-in, change with the
// nodes and come back to earlier words.
func TestKeptReasonsSayWhatFreshOnesSay(t *testing.T) {
	cfg, err := config.Parse("decide.yaml", []byte(decideConfig))
	if err != nil {
		t.Fatal(err)
	}
	quiet := new(dworld).node("n1", cluster.PhaseReady, 2).node("n2", cluster.PhaseReady, 1).node("n3", cluster.PhaseReady, 0)
	full := new(dworld).node("n1", cluster.PhaseReady, 4).node("n2", cluster.PhaseReady, 4).node("n3", cluster.PhaseReady, 3)
	waiting := new(dworld).node("n1", cluster.PhaseReady, 4).node("n2", cluster.PhaseReady, 4).node("n3", cluster.PhaseReady, 4).node("n4", cluster.PhaseReady, 4).pending(3)
	fewer := new(dworld).node("n1", cluster.PhaseReady, 4).node("n2", cluster.PhaseReady, 4).node("n3", cluster.PhaseReady, 4).node("n4", cluster.PhaseReady, 4).pending(2)
	kept, fresh := newMemory(), newMemory()
	ix := &index{}
	reasons := map[string]bool{}
	for i, w := range []*dworld{quiet, quiet, quiet, full, full, quiet, waiting, waiting, fewer, waiting, quiet, quiet, full, quiet} {
		snap := w.snapshot(cfg, len(w.tasks), Sample{Value: 30, OK: true})
		snap.Time = dt0.Add(time.Duration(i) * 10 * time.Second)
		s1, s2 := *snap, *snap
		s1.Records, s2.Records = slices.Clone(snap.Records), slices.Clone(snap.Records)
		got := decideInto(cfg, &s1, kept, ix)
		want := decideInto(cfg, &s2, fresh, nil)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decision %d: kept reasons\n%+v\nfresh ones\n%+v", i, got.Pools, want.Pools)
		}
		if !reflect.DeepEqual(kept, fresh) {
			t.Fatalf("decision %d: memories differ", i)
		}
		reasons[got.Pools[0].Reason] = true
	}
	if len(reasons) < 4 {
		t.Fatalf("the decisions gave too few reasons to tell: %v", reasons)
	}
}

// A machine adopted in a decision is counted by the pool's decision that
// follows (the records sorted before the adoption are sorted again).
func TestAdoptedMachineCountedInItsDecision(t *testing.T) {
	cfg, err := config.Parse("decide.yaml", []byte(decideConfig))
	if err != nil {
		t.Fatal(err)
	}
	snap := new(dworld).node("n1", cluster.PhaseReady, 2).snapshot(cfg, 2, Sample{Value: 30, OK: true})
	snap.Machines["workers"] = append(snap.Machines["workers"], cluster.Machine{Name: "m9", Status: cluster.MachineCreating})
	ix := &index{}
	for i := 0; i < 2; i++ { // a fresh index, then the kept one
		s := *snap
		s.Records = slices.Clone(snap.Records)
		p := decideInto(cfg, &s, newMemory(), ix)
		if len(p.Machines) != 1 || p.Machines[0].Action != MActAdopt || p.Pools[0].InFlight != 1 || p.Pools[0].Ready != 1 {
			t.Fatalf("decision %d: actions %+v, pool %+v", i, p.Machines, p.Pools[0])
		}
	}
}

// afterLifecycle's lookups (records by node, machines that exist per pool)
// kept from one decision to the next are those made afresh from the records,
// whatever changed in them: a node, a phase, a pool, a record replaced.
func TestKeptLifecycleLookupsAsFresh(t *testing.T) {
	cfg, err := config.Parse("decide.yaml", []byte(decideConfig))
	if err != nil {
		t.Fatal(err)
	}
	snap := new(dworld).node("n1", cluster.PhaseReady, 2).node("n2", cluster.PhaseReady, 1).node("n3", cluster.PhaseDraining, 0).snapshot(cfg, 3, Sample{Value: 30, OK: true})
	ix := buildIndex(snap, &index{})
	ix.afterLifecycle()
	rec := func(name string) *cluster.MachineRecord { return ix.records[name] }
	for _, step := range []struct {
		name string
		edit func()
	}{
		{"unchanged", func() {}},
		{"a record's node set", func() { rec("m1").NodeID = "n7" }},
		{"a record's node cleared", func() { rec("m2").NodeID = "" }},
		{"a record destroyed", func() { rec("m3").Phase = cluster.PhaseDestroyed }},
		{"a record in another pool", func() { rec("m1").Pool = "other" }},
		{"a record replaced by a copy (the records rebuilt)", func() {
			c := *rec("m1")
			ix.records["m1"], ix.haveRecs = &c, false
		}},
		{"a record added (adopted)", func() {
			ix.records["m9"] = &cluster.MachineRecord{Name: "m9", Pool: "workers", Phase: cluster.PhaseBooting, NodeID: "n9"}
			ix.haveRecs = false
		}},
		{"unchanged again", func() {}},
	} {
		step.edit()
		ix.afterLifecycle()
		byNode, exists := map[string]*cluster.MachineRecord{}, map[string]int{}
		for _, r := range ix.records {
			if r.NodeID != "" {
				byNode[r.NodeID] = r
			}
			if r.Phase.Exists() {
				exists[r.Pool]++
			}
		}
		if !maps.Equal(ix.recByNode, byNode) || !maps.Equal(ix.exists, exists) {
			t.Fatalf("%s: kept %v %v, fresh %v %v", step.name, ix.recByNode, ix.exists, byNode, exists)
		}
	}
}
