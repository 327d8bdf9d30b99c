package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
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
