package throttle

import (
	"context"
	"errors"
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

// memStore is a Store in memory; fail makes every write fail.
type memStore struct {
	m    map[string]Entry
	fail bool
}

func (s *memStore) Throttles(context.Context) ([]Entry, error) {
	var out []Entry
	for _, e := range s.m {
		out = append(out, e)
	}
	return out, nil
}

func (s *memStore) PutThrottle(_ context.Context, e Entry) error {
	if s.fail {
		return errors.New("disk full")
	}
	s.m[e.App] = e
	return nil
}

func (s *memStore) DeleteThrottle(_ context.Context, app string) error {
	if s.fail {
		return errors.New("disk full")
	}
	delete(s.m, app)
	return nil
}

// The book writes through; a failing store leaves the book working in
// memory.
func TestBookStore(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := &memStore{m: map[string]Entry{
		"old": {App: "old", Limit: Limit{Rate: 1e6}, Since: t0.Add(-time.Hour), Until: t0},
		"web": {App: "web", Limit: Limit{Rate: 3e6}, Since: t0, Until: t0.Add(time.Minute)},
	}}
	b, err := OpenBook(context.Background(), st, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.m["old"]; ok {
		t.Fatal("the expired entry is still stored")
	}
	if _, ok := b.Get("web", t0); !ok {
		t.Fatal("the stored entry was not loaded")
	}
	b.Set(Entry{App: "api", Limit: Limit{Rate: 1e6}, Since: t0, Until: t0.Add(time.Minute)})
	if _, ok := st.m["api"]; !ok {
		t.Fatal("Set not written through")
	}
	b.Lift("api")
	if _, ok := st.m["api"]; ok {
		t.Fatal("Lift not written through")
	}
	st.fail = true
	b.Set(Entry{App: "db", Limit: Limit{Rate: 1e6}, Since: t0, Until: t0.Add(time.Minute)})
	if _, ok := b.Get("db", t0); !ok {
		t.Fatal("a failed write lost the limit in memory")
	}
}
