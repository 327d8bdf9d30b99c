package prom

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/prom/promtest"
)

// weekOfRequests is OpenMetrics text of two apps' request counters, a
// sample a minute for a week ending at end: web serves 100 + 50 sin(2πt/day)
// requests/s (t from the first sample), api a steady 7.
func weekOfRequests(end time.Time) (om []byte, start time.Time) {
	start = end.Add(-7 * 24 * time.Hour)
	var b strings.Builder
	b.WriteString("# HELP http_requests Requests served.\n# TYPE http_requests counter\n")
	web, api := 0.0, 0.0
	for t := start; !t.After(end); t = t.Add(time.Minute) {
		web += webRate(t.Sub(start)) * 60
		api += 7 * 60
		fmt.Fprintf(&b, "http_requests_total{app=\"web\"} %.3f %d\nhttp_requests_total{app=\"api\"} %.3f %d\n", web, t.Unix(), api, t.Unix())
	}
	b.WriteString("# EOF\n")
	return []byte(b.String()), start
}

func webRate(since time.Duration) float64 {
	return 100 + 50*math.Sin(2*math.Pi*since.Seconds()/86400)
}

// A week of history backfilled into the real Prometheus (promtool's blocks),
// read back with range queries: every step, in order, the rate the counter
// grew at; a range over Prometheus's 11,000-point limit in several requests.
func TestRealPrometheusRange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	end := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	om, start := weekOfRequests(end)
	s := promtest.StartWithData(t, "", promtest.Backfill(t, om))
	c, err := New(config.Prometheus{URL: s.URL, Timeout: config.Duration(30 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const web = `sum(rate(http_requests_total{app="web"}[5m]))`
	from := start.Add(10 * time.Minute)
	for _, step := range []time.Duration{time.Minute, 30 * time.Second} {
		pts, err := c.QueryRange(ctx, web, from, end, step)
		if err != nil {
			t.Fatalf("step %s: %v", step, err)
		}
		want := int(end.Sub(from)/step) + 1
		if len(pts) != want {
			t.Fatalf("step %s: %d points, want %d (one per step; over %d points takes several requests)", step, len(pts), want, MaxRangePoints)
		}
		for i, p := range pts {
			if at := from.Add(time.Duration(i) * step); !p.Time.Equal(at) {
				t.Fatalf("step %s: point %d at %s, want %s", step, i, p.Time, at)
			}
			// rate() over 5 min of a counter growing at webRate: the rate
			// 2.5 min back, within what the sine moves in 2.5 min.
			if exp := webRate(p.Time.Sub(start) - 150*time.Second); math.Abs(p.Value-exp) > 1.5 {
				t.Fatalf("step %s: %s: rate %.2f, want %.2f", step, p.Time, p.Value, exp)
			}
		}
	}
	for q, kind := range map[string]error{
		`rate(http_requests_total[5m])`:          ErrAmbiguous,
		`rate(http_requests_total{app="x"}[5m])`: ErrEmpty,
		`sum(`:                                   ErrQuery,
	} {
		if _, err := c.QueryRange(ctx, q, from, end, time.Minute); !errors.Is(err, kind) || !errors.Is(err, engine.ErrNoData) {
			t.Errorf("%s: got %v, want %v", q, err, kind)
		}
	}
	if _, err := c.QueryRange(ctx, web, end, from, time.Minute); !errors.Is(err, ErrQuery) {
		t.Errorf("end before start: %v, want ErrQuery", err)
	}
}
