package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist/hoist/internal/engine"
)

// Without a Docker daemon, `hoist plan` on a real descriptor fails as
// `hoist run` does, with the same message (it printed a plan for an empty
// cluster before).
func TestPlanWithoutDockerFailsLikeRun(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	_, planErr := cli(t, "plan", "--config", "../../examples/local.yaml")
	_, runErr := cli(t, "run", "--config", "../../examples/local.yaml", "--listen=")
	if planErr == nil || runErr == nil {
		t.Fatalf("plan: %v; run: %v", planErr, runErr)
	}
	if planErr.Error() != runErr.Error() || !strings.Contains(planErr.Error(), "no Docker daemon") {
		t.Errorf("plan and run differ:\nplan: %v\nrun:  %v", planErr, runErr)
	}
}

// queryDescriptor scales web on a PromQL query against a Prometheus at url.
func queryDescriptor(url string) string {
	return `
controller: {interval: 10s}
prometheus: {url: "` + url + `"}
pools:
  - name: workers
    min: 1
    max: 2
    machine: {cpus: 4, memory: 8GiB}
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    resources: {reservations: {cpus: 0.25, memory: 128MiB}}
    replicas: {min: 2, max: 4}
    policies:
      - {type: target, query: 'sum(rate(http_requests_total[1m]))', target: 10}
`
}

// `hoist plan` routes a query: policy to Prometheus as a run does: with
// Prometheus unreachable, the plan holds on "no data" with the run's reason.
func TestPlanRoutesQueriesLikeRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	desc := filepath.Join(t.TempDir(), "hoist.yaml")
	if err := os.WriteFile(desc, []byte(queryDescriptor(url)), 0o600); err != nil {
		t.Fatal(err)
	}
	// --after: the app is deployed before the plan, so its policy votes.
	out, err := cli(t, "plan", "--config", desc, "--after", "1m", "-o", "json")
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, out)
	}
	var plan engine.Plan
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatal(err)
	}
	vote := func(p *engine.Plan) engine.PolicyVote {
		t.Helper()
		if len(p.Apps) != 1 || len(p.Apps[0].Votes) != 1 {
			t.Fatalf("plan: %+v", p.Apps)
		}
		return p.Apps[0].Votes[0]
	}
	pv := vote(&plan)
	if pv.HasValue || !strings.Contains(pv.Reason, "no data") {
		t.Errorf("plan's vote on the query: %+v", pv)
	}

	r := startRuntime(t, nil, runtimeOptions{ConfigPath: desc})
	var p *engine.Plan
	waitUntil(t, "a tick with the app deployed", func() bool {
		p, _ = r.rt.Engine.Last()
		return len(p.Apps) == 1 && len(p.Apps[0].Votes) == 1
	})
	rv := vote(p)
	if rv.HasValue != pv.HasValue || rv.Reason != pv.Reason {
		t.Errorf("run and plan differ on the query:\nrun:  %+v\nplan: %+v", rv, pv)
	}
	if a := plan.Apps[0]; a.Desired != 2 || !strings.Contains(a.Reason, "no data") && a.Action == "down" {
		t.Errorf("plan's decision: %+v", a)
	}
}

// A plan on the --data of a stopped run sees the apps registered through
// the API and the policy overrides.
func TestPlanSeesDurableState(t *testing.T) {
	data := t.TempDir()
	r := startRuntime(t, nil, runtimeOptions{Data: data})
	if out, err := cli(t, "apps", "deploy", "--server", r.url, "--name", "batch", "--image", "busybox",
		"--pool", "workers", "--replicas-min", "2", "--replicas-max", "3"); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	if out, err := cli(t, "apps", "set-policy", "--server", r.url, "web", "--max", "9"); err != nil {
		t.Fatalf("set-policy: %v\n%s", err, out)
	}
	r.stop()

	out, err := cli(t, "plan", "--data", data)
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, out)
	}
	if !strings.Contains(out, "app batch") || !strings.Contains(out, "bounds 2..3") {
		t.Errorf("the registered app is not in the plan:\n%s", out)
	}
	if !strings.Contains(out, "..9)") {
		t.Errorf("the override is not in the plan:\n%s", out)
	}
	// Without the data, neither.
	out, err = cli(t, "plan")
	if err != nil || strings.Contains(out, "app batch") {
		t.Errorf("plan without --data: %v\n%s", err, out)
	}
}
