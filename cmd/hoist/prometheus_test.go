package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist/hoist/internal/alerting"
)

const (
	promViewerTok  = "prom-viewer-0123456789"
	promAdminTok   = "prom-admin-0123456789"
	promWebhookTok = "prom-webhook-own-0123456789"
)

// promDescriptor: one app scaled by alerts; no Prometheus URL, so rule files
// are written and not reloaded, and a query would have no data.
func promDescriptor(dir string) string {
	return `
controller: {interval: 10s}
prometheus:
  rules_dir: ` + filepath.Join(dir, "rules") + `
  webhook: {bearer_token_file: ` + filepath.Join(dir, "webhook-token") + `}
pools:
  - name: workers
    min: 2
    max: 2
    machine: {cpus: 4, memory: 8GiB}
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    resources: {reservations: {cpus: 0.25, memory: 128MiB}}
    replicas: {min: 1, max: 3}
    policies:
      - {type: alert, upper: 80, lower: 20, for: 30s}
`
}

// The wiring of `hoist run --listen` on the simulator, in process: /metrics
// behind a viewer token, the webhook behind its own credential (an API
// token is refused), the rule file written when the app appears, and a
// notification turned into a scale-up by the engine.
func TestRunWiresPrometheus(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "webhook-token"), []byte(promWebhookTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("viewer "+promViewerTok+"\nadmin "+promAdminTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	desc := filepath.Join(dir, "hoist.yaml")
	if err := os.WriteFile(desc, []byte(promDescriptor(dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startRuntime(t, nil, runtimeOptions{ConfigPath: desc, Tokens: tokens})
	base := r.url
	cluster := r.rt.backend.(*simBackend).cluster
	// Deployed by the first tick, seen running by a later one.
	waitUntil(t, "web observed with one replica", func() bool {
		p, _ := r.rt.Engine.Last()
		return p != nil && len(p.Apps) == 1 && p.Apps[0].Current == 1
	})

	// The rule file follows the app within a tick (the sync runs after each).
	rule := filepath.Join(dir, "rules", alerting.AppFile("web"))
	waitUntil(t, "the rule file", func() bool { _, err := os.Stat(rule); return err == nil })

	call := func(method, path, token, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json") // as Alertmanager sends it
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := call("GET", "/metrics", "", ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d", code)
	}
	code, body := call("GET", "/metrics", promViewerTok, "")
	if code != 200 || !strings.Contains(body, `hoist_app_replicas{app="web",state="desired"} 1`) {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	firing, err := os.ReadFile("../../internal/alerting/testdata/alertmanager-0.25-firing.json")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := call("POST", WebhookPath, promAdminTok, string(firing)); code != http.StatusUnauthorized {
		t.Errorf("webhook with an API admin token: %d", code)
	}
	if got := cluster.App("web").Desired; got != 1 {
		t.Fatalf("before the alert: desired %d, want 1", got)
	}
	if code, body := call("POST", WebhookPath, promWebhookTok, string(firing)); code != 200 || !strings.Contains(body, `"firing":1`) {
		t.Fatalf("webhook: %d %s", code, body)
	}
	waitUntil(t, "the scale-up the alert asks for", func() bool { return cluster.App("web").Desired >= 2 })
}

func TestRulesCommand(t *testing.T) {
	dir := t.TempDir()
	desc := filepath.Join(dir, "hoist.yaml")
	if err := os.WriteFile(desc, []byte(promDescriptor(dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	run := func() string {
		root := newRootCmd(testDefaults())
		var b bytes.Buffer
		root.SetOut(&b)
		root.SetErr(io.Discard)
		root.SetArgs([]string{"rules", "--config", desc, "--out", out})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if got := run(); !strings.Contains(got, "wrote "+filepath.Join(out, "hoist-app-web.yml")) {
		t.Fatalf("first run: %s", got)
	}
	if got := run(); !strings.Contains(got, "up to date: 1 rule files") {
		t.Fatalf("second run: %s", got)
	}
}
