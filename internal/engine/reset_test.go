package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/store"
)

// swappable is an engine.Store whose contents the test can drop, as
// hoist run --ha drops its machine records when it becomes the leader.
type swappable struct{ *store.Memory }

var _ engine.Store = (*swappable)(nil)

// TestResetAfterAnotherLeaderActed: engine B acts, engine A takes over and
// acts (its own machines, its own decisions), then B leads again after a
// Reset on an empty store: it adopts what is there instead of resuming its
// stale records, and no machine is ever ordered twice.
func TestResetAfterAnotherLeaderActed(t *testing.T) {
	cfg := parse(t, scenario)
	c, err := sim.New(cfg, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := events.NewMemory(10000)
	provs := c.Providers()
	stB := &swappable{store.NewMemory()}
	b := newEngine(t, cfg, c, stB, ev, provs)
	tickFor(t, b, c, 2*time.Minute+30*time.Second) // into the load step: machines ordered
	stale := b.Machines()
	if len(stale) < 2 {
		t.Fatalf("B has %d machine records, want some ordered", len(stale))
	}

	a := newEngine(t, cfg, c, store.NewMemory(), ev, provs)
	tickFor(t, a, c, 14*time.Minute) // the load ends at 12m: A scales in, destroying machines B ordered
	if len(kinds(ev.List(events.Filter{}), events.MachineDestroyed)) == 0 {
		t.Fatal("A destroyed nothing: the test needs B's records to go stale")
	}

	stB.Memory = store.NewMemory()
	b.Reset()
	if n := len(b.Machines()); n != 0 {
		t.Fatalf("B kept %d records after Reset", n)
	}
	tickFor(t, b, c, 2*time.Minute)
	seen := map[string]int{}
	for _, e := range kinds(ev.List(events.Filter{}), events.MachineOrdered) {
		seen[e.Machine]++
	}
	for m, n := range seen {
		if n > 1 {
			t.Errorf("machine %s ordered %d times", m, n)
		}
	}
	ms, _ := provs["workers"].List(context.Background())
	live := map[string]bool{}
	for _, m := range ms {
		live[m.Name] = true
	}
	for _, r := range b.Machines() {
		if r.Phase != cluster.PhaseDestroyed && !live[r.Name] {
			t.Errorf("B holds %s (%s) that the provider no longer has", r.Name, r.Phase)
		}
	}
	if len(kinds(ev.List(events.Filter{}), events.MachineAdopted)) == 0 {
		t.Error("B adopted nothing after the reset")
	}
}
