package store

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/fuzzbudget"
	"github.com/hoist/hoist/internal/throttle"
)

// recordBudget: a damaged record must cost about what a sound one does,
// not only not panic.
var recordBudget = fuzzbudget.Budget{Fixed: 1 << 20, PerByte: 64, Time: 2 * time.Second}

// FuzzRecords feeds every record decoder the same bytes under every kind of
// key: each must return a record that belongs under the key, or an error
// that names the record, within bounds.
func FuzzRecords(f *testing.F) {
	t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	m := cluster.MachineRecord{Name: "workers-a1", Pool: "workers", NodeID: "n1", OrderedAt: t0}
	m.SetPhase(cluster.PhaseReady, t0, "ready")
	mj, _ := json.Marshal(m)
	ej, _ := json.Marshal(events.Event{Seq: 7, Time: t0, Kind: events.AppScale, App: "web", From: 2, To: 4, Reason: "cpu 80% > 60%"})
	rj, _ := json.Marshal(cluster.PoolRequest{Pool: "workers", Seq: 3, Target: 5, Asked: 6, Reason: "scaleto 6", Time: t0})
	lower := 20.0
	ay, _ := yaml.Marshal(config.App{Name: "web", Image: "demo", Pools: []string{"workers"}, Replicas: config.Replicas{Min: 1, Max: 3},
		Policies: []config.Policy{{Type: config.PolicyThreshold, Metric: "cpu", Upper: 80, Lower: &lower}}})
	oy, _ := yaml.Marshal(Override{App: "web", Replicas: config.Replicas{Min: 2, Max: 9}})
	tj, _ := json.Marshal(throttle.Entry{App: "web", Tasks: []string{"t1"}, Limit: throttle.Limit{Rate: 3e6}, Since: t0, Until: t0.Add(time.Minute), By: "anomaly"})
	for _, seed := range []struct {
		key string
		v   []byte
	}{
		{"workers-a1", mj}, {"\x00\x00\x00\x00\x00\x00\x00\x07", ej}, {"workers", rj}, {"web", ay}, {"web", oy}, {"web", tj},
		{"web", mj[:len(mj)/2]}, {"web", []byte("a: &a [*a, *a, *a, *a]\nb: *a\n")}, {"x", []byte(`{"seq":1e400}`)},
		{"web", []byte(strings.Repeat("[", 5000))}, {"web", []byte(strings.Repeat("- ", 3000))},
	} {
		f.Add([]byte(seed.key), seed.v)
	}
	f.Fuzz(func(t *testing.T, k, v []byte) {
		fuzzbudget.Check(t, recordBudget, len(k)+len(v), func() {
			if r, err := decodeMachine(k, v); err == nil && (r.Name != string(k) || r.Pool == "") {
				t.Fatalf("machine %q accepted as %+v", k, r)
			} else if err != nil && !strings.Contains(err.Error(), "machine ") {
				t.Fatalf("error does not name the record: %v", err)
			}
			if e, err := decodeEvent(k, v); err == nil && (len(k) != 8 || e.Seq == 0 && string(k) != "\x00\x00\x00\x00\x00\x00\x00\x00") {
				t.Fatalf("event %x accepted as %+v", k, e)
			} else if err != nil && !strings.Contains(err.Error(), "event ") {
				t.Fatalf("error does not name the record: %v", err)
			}
			if a, err := decodeApp(k, v); err == nil && a.Name != string(k) {
				t.Fatalf("app %q accepted as %+v", k, a)
			} else if err != nil && !strings.Contains(err.Error(), "app ") {
				t.Fatalf("error does not name the record: %v", err)
			}
			if o, err := decodeOverride(k, v); err == nil && o.App != string(k) {
				t.Fatalf("override %q accepted as %+v", k, o)
			} else if err != nil && !strings.Contains(err.Error(), "override ") {
				t.Fatalf("error does not name the record: %v", err)
			}
			if e, err := decodeThrottle(k, v); err == nil && (e.App != string(k) || e.Limit.Rate == 0 || !e.Since.Before(e.Until)) {
				t.Fatalf("rate limit %q accepted as %+v", k, e)
			} else if err != nil && !strings.Contains(err.Error(), "rate limit ") {
				t.Fatalf("error does not name the record: %v", err)
			}
			if r, err := decodeRequest(k, v); err == nil && (r.Pool != string(k) || r.Seq == 0 || r.Target < 0) {
				t.Fatalf("request %q accepted as %+v", k, r)
			} else if err != nil && !strings.Contains(err.Error(), "pool request ") {
				t.Fatalf("error does not name the record: %v", err)
			}
		})
	})
}
