package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/prom/promtest"
	"github.com/hoist/hoist/internal/sim"
)

// historyRate is the backfilled app's request rate, t after the history's
// first sample: a daily sine between 200 and 600 requests/s.
func historyRate(t time.Duration) float64 {
	return 400 + 200*math.Sin(2*math.Pi*t.Seconds()/86400)
}

// weekHistory is a week of web's request counter, a sample a minute, ending
// at end, as OpenMetrics text for promtool.
func weekHistory(end time.Time) []byte {
	start := end.Add(-7 * 24 * time.Hour)
	var b strings.Builder
	b.WriteString("# HELP http_requests Requests served.\n# TYPE http_requests counter\n")
	v := 0.0
	for t := start; !t.After(end); t = t.Add(time.Minute) {
		v += historyRate(t.Sub(start)) * 60
		fmt.Fprintf(&b, "http_requests_total{app=\"web\",code=\"200\"} %.3f %d\n", v, t.Unix())
	}
	b.WriteString("# EOF\n")
	return []byte(b.String())
}

// `hoist bench --prometheus --query --since 7d` replays an app's own week,
// stored in the real Prometheus (backfilled by promtool), on the policies:
// the requests the bench offered are those Prometheus recorded.
func TestBenchPrometheusHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	end := time.Now().UTC().Truncate(time.Minute).Add(-time.Minute)
	s := promtest.StartWithData(t, "", promtest.Backfill(t, weekHistory(end)))
	out := t.TempDir()
	const query = `sum(rate(http_requests_total{app="web"}[5m]))`
	code, stdout, stderr := run(t, "bench", "--config", "../../examples/bench.yaml", "--prometheus", s.URL,
		"--query", query, "--since", "7d", "--step", "1m", "--duration", "2h", "--policies", "hpa-ca,static-peak", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	report, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(report), "Prometheus "+s.URL) || !strings.Contains(string(report), query) {
		t.Errorf("the report does not say where its load came from:\n%s", report[:min(len(report), 1500)])
	}
	var res map[string]struct {
		RequestsTotal float64 `json:"requests_total"`
		ReplicaHours  float64 `json:"replica_hours"`
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	// The first 2 h of the week (the range starts within a few minutes of
	// the history's first sample; rate() needs 5 min, the first value holds).
	want := 0.0
	for s := 0; s < 7200; s++ {
		want += historyRate(time.Duration(s) * time.Second)
	}
	for _, p := range []string{"hpa-ca", "static-peak"} {
		r, ok := res[p]
		if !ok {
			t.Fatalf("no result for %s in %s", p, b)
		}
		if math.Abs(r.RequestsTotal-want) > 0.03*want {
			t.Errorf("%s: %.0f requests offered over 2 h, want about %.0f (Prometheus's history)", p, r.RequestsTotal, want)
		}
	}
	// static-peak holds the measured span's peak demand: 500 req/s at 2 h
	// (examples/bench.yaml: 50 req/s a replica, queue 100, p95 250 ms).
	peak := sim.MinReplicas(historyRate(2*time.Hour), 50, 100, 0.25, 0.001)
	if got := res["static-peak"].ReplicaHours / 2; math.Abs(got-float64(peak)) > 1 {
		t.Errorf("static-peak ran %.1f replicas, want %d (the peak of the history's first 2 h)", got, peak)
	}
	// A query Prometheus refuses, or one without data, fails with its reason.
	for q, why := range map[string]string{"sum(": "refused", `rate(nothing_here[5m])`: "no series"} {
		code, _, stderr := run(t, "bench", "--config", "../../examples/bench.yaml", "--prometheus", s.URL, "--query", q, "--out", t.TempDir())
		if code == 0 || !strings.Contains(stderr, why) {
			t.Errorf("--query %s: exit %d, %q; want a failure saying %q", q, code, stderr, why)
		}
	}
	// --prometheus and --query go together, and not with --trace.
	for _, args := range [][]string{
		{"--prometheus", s.URL},
		{"--query", query},
		{"--prometheus", s.URL, "--query", query, "--trace", "x.csv"},
		{"--prometheus", s.URL, "--query", query, "--since", "seven days"},
	} {
		code, _, stderr := run(t, append([]string{"bench", "--config", "../../examples/bench.yaml", "--out", t.TempDir()}, args...)...)
		if code != exitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, stderr, exitUsage)
		}
	}
}

func TestParseSince(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"7d": 7 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "36h": 36 * time.Hour, "1d12h": 36 * time.Hour,
		"1w2d": 9 * 24 * time.Hour, "90m": 90 * time.Minute,
	} {
		if got, err := parseSince(in); err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0d", "-1d", "1.5d", "d", "12h1d", "seven days"} {
		if got, err := parseSince(in); err == nil {
			t.Errorf("%q: %v, want an error", in, got)
		}
	}
}
