package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// `apps deploy` with flags registers the same app as with a file saying the
// same in the descriptor's words.
func TestDeployFlagsMatchAFile(t *testing.T) {
	r := startRuntime(t, nil, runtimeOptions{})
	if out, err := cli(t, "apps", "deploy", "--server", r.url, "--name", "byflags", "--image", "busybox", "--pool", "workers",
		"--limit-cpu", "0.5", "--reserve-cpu", "0.25", "--reserve-memory", "64MiB", "--replicas-max", "3", "--target-cpu", "50",
		"--env", "A=1", "--port", "8080"); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	file := filepath.Join(t.TempDir(), "app.yaml")
	os.WriteFile(file, []byte(`name: byfile
image: busybox
pools: [workers]
resources: {limits: {cpus: 0.5}, reservations: {cpus: 0.25, memory: 64MiB}}
replicas: {min: 1, max: 3}
policies: [{type: target, metric: cpu, target: 50}]
env: [A=1]
port: 8080
`), 0o600)
	if out, err := cli(t, "apps", "deploy", "--server", r.url, "-f", file); err != nil {
		t.Fatalf("deploy -f: %v\n%s", err, out)
	}
	spec := func(name string) map[string]any {
		out, err := cli(t, "apps", "show", name, "--server", r.url, "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ Spec map[string]any }
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatal(err)
		}
		delete(v.Spec, "name")
		return v.Spec
	}
	a, b := spec("byflags"), spec("byfile")
	if !reflect.DeepEqual(a, b) {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		t.Errorf("flags and file differ:\nflags: %s\nfile:  %s", ja, jb)
	}
	// A bad size is refused before any request, naming the flag.
	_, err := cli(t, "apps", "deploy", "--server", r.url, "--name", "x", "--image", "busybox", "--pool", "workers", "--limit-memory", "lots")
	if err == nil || !strings.Contains(err.Error(), "--limit-memory") {
		t.Errorf("bad size: %v", err)
	}
}
