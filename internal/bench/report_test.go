package bench

import (
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteReport(t *testing.T) {
	cfg := testConfig(t)
	names := []string{"hpa-ca", "oracle"}
	res, err := Run(context.Background(), Spec{Config: cfg, Load: step(60, 700, 5*time.Minute, 10*time.Minute),
		Duration: 20 * time.Minute, Warmup: time.Minute, Policies: names})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	meta := Meta{Command: "hoist bench --config x.yaml --out d", Trace: "a step", Duration: 20 * time.Minute, Warmup: time.Minute, Config: cfg, Policies: names}
	if err := Write(dir, meta, res); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		r := got[n]
		for _, field := range []string{"replicas", "machines", "elastic_speedup", "slo_violation_seconds", "bad_request_share", "replica_hours", "machine_hours", "scaling_actions"} {
			if _, ok := r[field]; !ok {
				t.Errorf("results.json: %s has no %s", n, field)
			}
		}
		el := r["replicas"].(map[string]any)
		for _, field := range []string{"theta_u", "theta_o", "tau_u", "tau_o", "instability"} {
			if _, ok := el[field]; !ok {
				t.Errorf("results.json: %s.replicas has no %s", n, field)
			}
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{meta.Command, "| hpa-ca |", "| oracle |", "θ_U", "replica-hours", "![replicas](replicas.png)", "CA FAQ"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "zoom.png")); err == nil {
		t.Error("a 20 min run has a 4 h zoom")
	}
	for _, f := range []string{"replicas.png", "machines.png"} {
		fh, err := os.Open(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if b := img.Bounds(); b.Dx() != plotW || b.Dy() < headerH+2*rowH {
			t.Errorf("%s is %v", f, b)
		}
	}
}

func TestZoomWindowFindsTheRise(t *testing.T) {
	n := 10 * 3600
	s := &Series{Step: time.Second, DemandReplicas: make([]int32, n)}
	for i := range s.DemandReplicas {
		s.DemandReplicas[i] = 2
		if i >= 7*3600 {
			s.DemandReplicas[i] = 20
		}
	}
	from, to := zoomWindow(s, 2*time.Hour)
	if to-from != 2*3600 || from > 7*3600 || to < 7*3600 {
		t.Errorf("zoom %d..%d, want 2 h around the rise at %d", from, to, 7*3600)
	}
}
