package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/alerting"
	"github.com/hoist/hoist/internal/sim"
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
	cfg, err := loadConfig(desc)
	if err != nil {
		t.Fatal(err)
	}
	opt := &runOptions{config: desc, listen: "127.0.0.1:0", tokens: tokens, extra: map[string]string{}}
	var so sim.StackOptions
	var attach []func(*Runtime)
	for _, h := range simHooks {
		a, done, err := h(cfg, opt, &so)
		if err != nil {
			t.Fatal(err)
		}
		if done != nil {
			t.Cleanup(done)
		}
		if a != nil {
			attach = append(attach, a)
		}
	}
	stack, err := sim.NewStack(cfg, so)
	if err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{Config: cfg, Engine: stack.Engine, Events: stack.Events, Sim: stack}
	for _, a := range attach {
		a(rt)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	errc := make(chan error, len(runHooks))
	for _, h := range runHooks {
		go func() { errc <- h(ctx, rt, opt, out) }()
	}
	t.Cleanup(func() {
		cancel()
		for range runHooks {
			if err := <-errc; err != nil {
				t.Errorf("run hook: %v", err)
			}
		}
	})
	base := promWaitOutput(t, `API on (\S+)/v1`, out)
	step := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := stack.Step(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	step(2)

	// The rule file follows the app within a tick (the sync runs after each).
	rule := filepath.Join(dir, "rules", alerting.AppFile("web"))
	promWaitUntil(t, "the rule file", func() bool { _, err := os.Stat(rule); return err == nil })

	call := func(method, path, token, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
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
	if code, body := call("POST", WebhookPath, promWebhookTok, string(firing)); code != 200 || !strings.Contains(body, `"firing":1`) {
		t.Fatalf("webhook: %d %s", code, body)
	}
	step(1)
	if got := stack.Cluster.App("web").Desired; got != 2 {
		t.Fatalf("after the alert: desired %d, want 2\n%s", got, out)
	}
}

func promWaitOutput(t *testing.T, pattern string, out *syncBuffer) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	var m []string
	promWaitUntil(t, pattern, func() bool { m = re.FindStringSubmatch(out.String()); return m != nil })
	return m[1]
}

// waitUntil polls cond (a server starting, a goroutine's file write).
func promWaitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRulesCommand(t *testing.T) {
	dir := t.TempDir()
	desc := filepath.Join(dir, "hoist.yaml")
	if err := os.WriteFile(desc, []byte(promDescriptor(dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	run := func() string {
		root := newRootCmd()
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
