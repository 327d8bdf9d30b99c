package throttle

import (
	"testing"
	"time"
)

func TestBook(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := NewBook()
	if b.Set(Entry{App: "a", Tasks: []string{"y", "x"}, Limit: Limit{Rate: 3e6}, Since: t0, Until: t0.Add(time.Minute)}) {
		t.Fatal("first Set is a renewal")
	}
	e, ok := b.Get("a", t0)
	if !ok || e.Tasks[0] != "x" || !e.Covers("y") || e.Covers("z") || e.Limit.String() != "3Mbit" {
		t.Fatalf("entry %+v %v", e, ok)
	}
	if !b.Set(Entry{App: "a", Limit: Limit{Rate: 1e6}, Since: t0.Add(30 * time.Second), Until: t0.Add(2 * time.Minute)}) {
		t.Fatal("Set while active is no renewal")
	}
	if e, _ := b.Get("a", t0.Add(time.Minute)); !e.Since.Equal(t0) || !e.Covers("anything") {
		t.Fatalf("renewed entry %+v", e)
	}
	b.Set(Entry{App: "b", Limit: Limit{Rate: 1e6}, Since: t0, Until: t0.Add(time.Minute)})
	if n := len(b.Active(t0.Add(90 * time.Second))); n != 1 {
		t.Fatalf("%d active at 90s, want 1", n)
	}
	if ex := b.Expire(t0.Add(90 * time.Second)); len(ex) != 1 || ex[0].App != "b" {
		t.Fatalf("expired %+v", ex)
	}
	if _, ok := b.Lift("a"); !ok {
		t.Fatal("nothing lifted")
	}
	if len(b.Active(t0)) != 0 {
		t.Fatal("entries left")
	}
}
