package api

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/store"
)

func (e *env) active(pool string) int {
	e.t.Helper()
	r := e.expect(e.do("GET", "/v1/pools/"+pool, "viewer", ""), 200)
	n, _ := r.body["active"].(float64)
	return int(n)
}

// The sequence over HTTP: scaleup 2, scaledown 1, scaleto 99 on a
// pool of 4 with max 6 answer 6, 5, 6, and the scaledown never runs after
// the scaleto (it used to wait for the booting machines, then remove one).
func TestPoolRequestsOverHTTPLastOneWins(t *testing.T) {
	e := newEnv(t, 1)
	e.expect(e.do("POST", "/v1/pools/workers/scaleto/4", "operator", ""), 202)
	e.step(1)
	if n := e.active("workers"); n != 4 {
		t.Fatalf("%d active after scaleto 4", n)
	}
	var got []float64
	for _, req := range [][2]string{{"/v1/pools/workers/scaleup", `{"count":2}`}, {"/v1/pools/workers/scaledown", `{"count":1}`}, {"/v1/pools/workers/scaleto/99", ""}} {
		r := e.expect(e.do("POST", req[0], "operator", req[1]), 202)
		target, _ := r.body["target"].(float64)
		got = append(got, target)
	}
	if got[0] != 6 || got[1] != 5 || got[2] != 6 {
		t.Fatalf("targets %v, want [6 5 6]", got)
	}
	seq := e.db.LastSeq()
	e.step(30) // 5 simulated minutes: the machines boot, the ticks decide
	evs, err := e.db.Page(events.Filter{}, seq, true, 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Kind == events.MachineSelected && strings.Contains(ev.Reason, "operator asked") {
			t.Errorf("an operator's removal ran after the last request: %+v", ev)
		}
	}
}

// A scaledown answered 202 survives the process: the next one, on the same
// data directory, carries it out.
func TestPoolRequestSurvivesRestart(t *testing.T) {
	e := newEnv(t, 1)
	e.expect(e.do("POST", "/v1/pools/workers/scaleto/3", "operator", ""), 202)
	e.step(12)
	if n := e.active("workers"); n != 3 {
		t.Fatalf("%d active after scaleto 3", n)
	}
	r := e.expect(e.do("POST", "/v1/pools/workers/scaledown", "operator", `{"count":2}`), 202)
	if r.body["target"] != float64(1) {
		t.Fatalf("scaledown answer: %s", r.raw)
	}
	// hoist stops before its next tick; the next process opens the same file.
	dir := filepath.Dir(e.db.Path())
	e.db.Close()
	db, err := store.OpenBolt(dir, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg, err := config.Load(e.descriptor)
	if err != nil {
		t.Fatal(err)
	}
	c := e.stack.Cluster
	eng, err := engine.New(cfg, engine.Deps{Orchestrator: c, Providers: c.Providers(), Metrics: c, Clock: c, Store: db, Events: db})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	removed := 0
	for i := 0; i < 30 && removed < 2; i++ {
		plan, err := eng.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range plan.Pools {
			if p.Pool == "workers" && p.ManualDone {
				removed += len(p.Remove)
			}
		}
		c.Advance(cfg.Interval())
	}
	if removed != 2 {
		t.Fatalf("the restarted engine removed %d machines for the stored request, want 2", removed)
	}
	if reqs, _ := db.PoolRequests(ctx); len(reqs) != 0 {
		t.Fatalf("request still stored after it was carried out: %+v", reqs)
	}
}
