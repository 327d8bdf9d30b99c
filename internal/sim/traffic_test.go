package sim

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/throttle"
)

// Traffic follows the request rate: served requests times bytes_per_request
// sent, offered requests times request_bytes received; a limit caps the
// tasks it covers.
func TestTraffic(t *testing.T) {
	ctx := context.Background()
	y := strings.Replace(twoPools, "    resources:", `    load: {cpu_per_request: 1ms, pattern: {shape: constant, base: 20}, bytes_per_request: 100KiB, request_bytes: 1000}
    resources:`, 1)
	cfg, err := config.Parse("t.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	book := throttle.NewBook()
	c, err := New(cfg, Options{Throttles: book})
	if err != nil {
		t.Fatal(err)
	}
	app, _ := cfg.App("web")
	_ = c.Deploy(ctx, *app, 2)
	c.Advance(time.Minute)
	q := func(m string) float64 {
		v, err := c.Value(ctx, engine.MetricQuery{App: "web", Metric: m, Window: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// 20 req/s on 2 replicas, far below capacity: 10 req/s each.
	if tx, rx := q("net_tx"), q("net_rx"); math.Abs(tx-10*100*1024) > 1 || math.Abs(rx-10*1000) > 1e-6 {
		t.Fatalf("per replica tx %v rx %v", tx, rx)
	}
	per, err := c.TaskBytes(ctx, "web", "net_tx", 10*time.Second)
	if err != nil || len(per) != 2 {
		t.Fatalf("TaskBytes %v %v", per, err)
	}
	var one string
	for id := range per {
		one = id
		break
	}
	// One task limited to 1 Mbit/s: it sends 125 kB/s, the other 1 MiB/s.
	book.Set(throttle.Entry{App: "web", Tasks: []string{one}, Limit: throttle.Limit{Rate: 1e6}, Since: c.Now(), Until: c.Now().Add(time.Hour)})
	c.Advance(time.Minute)
	if tx := q("net_tx"); math.Abs(tx-(125e3+10*100*1024)/2) > 1 {
		t.Fatalf("tx with one task limited: %v", tx)
	}
	if rx := q("net_rx"); math.Abs(rx-10*1000) > 1e-6 {
		t.Fatalf("rx below the limit changed: %v", rx)
	}
}
