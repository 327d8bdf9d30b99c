//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/hoist/hoist/internal/cluster"
)

// TestComposeAndLabelsOnSwarm runs hoist on the real swarm with a Compose
// stack file as its descriptor, and two services created outside hoist that
// opt in by labels, one with hoist's (hoist.enable, hoist.min, hoist.max),
// one with docker-swarm-autoscaler's (swarm.autoscaler, .minimum,
// .maximum). hoist deploys the Compose service and brings both labelled
// services up to the minimum their labels ask for.
func TestComposeAndLabelsOnSwarm(t *testing.T) {
	s := newStack(t)
	const pool = "lbl"
	t.Cleanup(func() {
		if left := s.leftovers(t, pool); len(left) > 0 {
			t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
		}
	})
	newProvider(t, s, pool, 1, "")
	t.Cleanup(func() {
		for _, name := range []string{"lblweb", "lblhoist", "lblswarm"} {
			s.removeService(t, name)
		}
		s.removeNetwork("hoist-lblweb")
	})
	create := func(name string, labels map[string]string) {
		t.Helper()
		one := uint64(1)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := s.cli.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: swarm.ServiceSpec{
			Annotations: swarm.Annotations{Name: name, Labels: labels},
			TaskTemplate: swarm.TaskSpec{
				ContainerSpec: &swarm.ContainerSpec{Image: "hoist/demoapp:latest"},
				Resources:     &swarm.ResourceRequirements{Reservations: &swarm.Resources{NanoCPUs: 1e8, MemoryBytes: 16 << 20}},
				Placement:     &swarm.Placement{Constraints: []string{"node.labels.hoist.pool==" + pool}},
			},
			Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	create("lblhoist", map[string]string{"hoist.enable": "true", "hoist.min": "2", "hoist.max": "3", "hoist.cpu.target": "50"})
	create("lblswarm", map[string]string{"swarm.autoscaler": "true", "swarm.autoscaler.minimum": "2", "swarm.autoscaler.maximum": "3"})

	stack := writeFile(t, t.TempDir(), "stack.yml", `version: "3.8"
x-hoist:
  controller: {interval: 2s}
  pools:
    - name: `+pool+`
      provider: local
      min: 1
      max: 1
      machine: {cpus: 1, memory: 1GB}
services:
  lblweb:
    image: hoist/demoapp:latest
    environment: {WORK: 1ms}
    ports: ["8080"]
    deploy:
      replicas: 1
      resources:
        reservations: {cpus: '0.10', memory: 16M}
      restart_policy: {condition: any}
`)
	// Listening (loopback, a free port): the dashboard's figures are read
	// from the API below.
	h := startHoistArgs(t, "run", "--config", stack, "--listen", "127.0.0.1:0")
	running := func(st cluster.State, name string) int {
		n := 0
		for _, tk := range st.Tasks {
			if tk.Service == name && tk.State == cluster.TaskRunning {
				n++
			}
		}
		return n
	}
	desired := func(st cluster.State, name string) int {
		for _, sv := range st.Services {
			if sv.Name == name {
				return sv.Desired
			}
		}
		return -1
	}
	// hoist deploys the stack file's service and raises both labelled
	// services to the minimum their labels ask (2, from 1).
	deadline := time.Now().Add(3 * time.Minute)
	for {
		st := s.state(t)
		if running(st, "lblweb") == 1 && desired(st, "lblhoist") == 2 && desired(st, "lblswarm") == 2 {
			break
		}
		if time.Now().After(deadline) {
			for _, sv := range st.Services {
				if strings.HasPrefix(sv.Name, "lbl") {
					t.Logf("service %s: desired %d, running %d, pools %v", sv.Name, sv.Desired, running(st, sv.Name), sv.Pools)
				}
			}
			t.Log("events:\n" + strings.Join(h.events(), "\n"))
			t.Fatal("timed out after 3m waiting for lblweb running from the stack file, lblhoist and lblswarm scaled to 2")
		}
		time.Sleep(time.Second)
	}
	// Both tasks of each labelled service run. The first ones were pending
	// (no node of the pool yet) when hoist scaled the services to 2: Swarm
	// never retries a pending task of an older spec version, so hoist
	// replaces them after its scale (internal/swarm, renewStranded).
	deadline = time.Now().Add(2 * time.Minute)
	for {
		st := s.state(t)
		if running(st, "lblhoist") == 2 && running(st, "lblswarm") == 2 {
			break
		}
		if time.Now().After(deadline) {
			for _, tk := range st.Tasks {
				if strings.HasPrefix(tk.Service, "lbl") {
					t.Logf("task %s of %s on %q: %s %s", tk.ID, tk.Service, tk.NodeID, tk.State, tk.Reason)
				}
			}
			t.Log("events:\n" + strings.Join(h.events(), "\n"))
			t.Fatal("timed out after 2m waiting for 2 running tasks of lblhoist and of lblswarm")
		}
		time.Sleep(time.Second)
	}

	// Each machine's node is named after the machine, as a cloud VM's
	// would be (not the host's name for every node).
	{
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		nodes, err := s.cli.NodeList(ctx, client.NodeListOptions{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, n := range nodes.Items {
			if n.Spec.Labels["hoist.pool"] != pool {
				continue
			}
			seen++
			if m := n.Spec.Labels["hoist.machine"]; n.Description.Hostname != m {
				t.Errorf("node %s of machine %s is named %q in docker node ls", n.ID, m, n.Description.Hostname)
			}
		}
		if seen == 0 {
			t.Error("no node of pool " + pool)
		}
	}

	// Under load, the dashboard's Load figure for lblweb is the request rate
	// its replica served (the collector's scrape), as the overview shows it.
	api := regexp.MustCompile(`hoist: API on (http://\S+)/v1 `).FindStringSubmatch(h.out.String())
	if api == nil {
		t.Fatalf("hoist did not say where its API is:\n%s", h.out)
	}
	s.startLoadArgs(t, "lblweb", "--rate", "20")
	var offered float64
	waitFor(t, 2*time.Minute, "lblweb's load in /v1/series at half the rate sent or more", func() bool {
		resp, err := http.Get(api[1] + "/v1/series")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var latest struct {
			Apps map[string]struct {
				Offered *float64 `json:"offered"`
			} `json:"apps"`
		}
		if json.NewDecoder(resp.Body).Decode(&latest) != nil {
			return false
		}
		// The first figures are lower while the collector's window fills.
		if o := latest.Apps["lblweb"].Offered; o != nil && *o >= 10 {
			offered = *o
			return true
		}
		return false
	})
	t.Logf("lblweb's load on the dashboard: %.1f req/s (the generator sends 20)", offered)
	if offered > 40 {
		t.Errorf("lblweb's load %.1f req/s is over twice what was sent (20)", offered)
	}

	if !strings.Contains(h.out.String(), "services.lblweb.deploy.restart_policy: not used by hoist (ignored)") {
		t.Errorf("no note for the Compose key hoist ignores")
	}
	h.stop(t)
}
