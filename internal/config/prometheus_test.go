package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAlertPolicyAndPrometheusDefaults(t *testing.T) {
	cfg, err := Parse("p.yaml", []byte(`
prometheus:
  url: https://prom.example:9090
  tls: {ca_file: /etc/ca.pem}
  auth: {username: hoist, password_file: /etc/pw}
  rules_dir: /var/lib/hoist/rules
  webhook: {bearer_token_file: /etc/hoist/webhook}
pools:
  - name: workers
    machine: {cpus: 2, memory: 4GiB}
    max: 3
    cooldown: 4m
    alert: {upper: 0.8, lower: 0.2, for: 1m}
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    policies:
      - {type: alert, upper: 80, lower: 20, for: 30s}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Prometheus.Timeout.D() != DefaultPrometheusTimeout {
		t.Errorf("timeout %v", cfg.Prometheus.Timeout)
	}
	p := cfg.Apps[0].Policies[0]
	if p.Metric != "cpu" || p.StepUp != 1 || p.StepDown != 1 || p.DownFor.D() != 30*time.Second || p.Repeat.D() != time.Minute {
		t.Errorf("alert policy defaults: %+v", p)
	}
	a := cfg.Pools[0].Alert
	if a.Metric != "reserved" || a.Repeat.D() != 4*time.Minute || a.DownFor.D() != time.Minute {
		t.Errorf("pool alert defaults: %+v", a)
	}
	if !cfg.HasAlerts() || !cfg.Apps[0].HasAlerts() {
		t.Error("HasAlerts")
	}
}

func TestPrometheusErrorsLocated(t *testing.T) {
	_, err := Parse("bad.yaml", []byte(`
prometheus:
  url: ftp://prom
  timeout: 1ms
  auth: {username: hoist, bearer_token: x}
  webhook: {}
pools:
  - name: workers
    machine: {cpus: 2, memory: 4GiB}
    max: 3
    alert: {metric: load, upper: 2, lower: 0.1}
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    policies:
      - {type: alert, upper: 20, lower: 80, window: 30s}
      - {type: alert, metric: cpu, query: up, upper: 80, lower: 20}
`))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want Errors, got %v", err)
	}
	got := err.Error()
	for _, want := range []string{
		`bad.yaml:3:8: prometheus.url: scheme must be http or https, not "ftp"`,
		`bad.yaml:4:12: prometheus.timeout: must be at least 10ms`,
		`prometheus.auth.bearer_token: give basic auth (username, password) or a bearer token, not both`,
		`bad.yaml:6:12: prometheus.webhook: set bearer_token_file (or bearer_token), or username and password_file`,
		`pools[0].alert.metric: "load" is not one of reserved, cpu`,
		`pools[0].alert.upper: must be a share in (0, 1]`,
		`apps[0].policies[0].lower: lower 80 must be below upper 20`,
		`apps[0].policies[0].window: is not used by an alert policy`,
		`apps[0].policies[1].query: give either metric or query, not both`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}
