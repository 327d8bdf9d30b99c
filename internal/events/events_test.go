package events

import (
	"testing"
	"time"
)

func TestMemoryRingAndFilters(t *testing.T) {
	m := NewMemory(3)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		m.Record(Event{Time: t0.Add(time.Duration(i) * time.Minute), Kind: AppScale, App: []string{"a", "b"}[i%2], Reason: "r"})
	}
	all := m.List(Filter{})
	if len(all) != 3 || all[0].Seq != 3 || all[2].Seq != 5 {
		t.Fatalf("ring keeps the last 3 in order: %+v", all)
	}
	if got := m.List(Filter{App: "a"}); len(got) != 2 || got[0].Seq != 3 || got[1].Seq != 5 {
		t.Errorf("app filter: %+v", got)
	}
	if got := m.List(Filter{AfterSeq: 4}); len(got) != 1 || got[0].Seq != 5 {
		t.Errorf("after seq: %+v", got)
	}
	if got := m.List(Filter{AfterSeq: 1}); len(got) != 3 {
		t.Errorf("after a seq that fell out of the ring: %+v", got)
	}
	if got := m.List(Filter{Since: t0.Add(3 * time.Minute)}); len(got) != 2 {
		t.Errorf("since: %+v", got)
	}
	if got := m.List(Filter{Limit: 1}); len(got) != 1 || got[0].Seq != 5 {
		t.Errorf("limit keeps the newest: %+v", got)
	}
	if got := m.List(Filter{KindPrefix: "app."}); len(got) != 3 {
		t.Errorf("kind prefix: %+v", got)
	}
	if got := m.List(Filter{Kinds: []Kind{PoolHold}}); len(got) != 0 {
		t.Errorf("kinds: %+v", got)
	}
}

func TestSubscribe(t *testing.T) {
	m := NewMemory(10)
	ch, stop := m.Subscribe(1)
	m.Record(Event{Kind: AppScale})
	m.Record(Event{Kind: AppHold}) // the buffer is full: dropped, not blocking
	if e := <-ch; e.Kind != AppScale {
		t.Fatalf("got %v", e)
	}
	stop()
	stop() // idempotent
	if _, ok := <-ch; ok {
		t.Fatal("channel not closed")
	}
	m.Record(Event{Kind: AppScale}) // no subscriber left: no panic
}
