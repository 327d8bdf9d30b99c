package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validate says which policies each app got, the predictive default
// included; the examples keep the policies they write.
func TestValidateSaysWhichPolicyAnAppGot(t *testing.T) {
	d := filepath.Join(t.TempDir(), "d.yaml")
	desc := `pools:
  - name: w
    machine: {cpus: 2, memory: 4GiB}
    max: 3
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [w]
    resources: {reservations: {cpus: 0.5, memory: 256MiB}}
    slo: {latency_p95: 300ms}
  - name: batch
    image: hoist/demoapp:latest
    pools: [w]
    resources: {reservations: {cpus: 0.5, memory: 256MiB}}
`
	if err := os.WriteFile(d, []byte(desc), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := cli(t, "validate", d, "../../examples/bench.yaml")
	if err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	for _, want := range []string{
		"  app web: predictive (the default: an slo and no policies written)",
		"  app batch: no policies: replicas stay as they are",
		"  app web: target cpu", // examples/bench.yaml writes its policy
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, err = cli(t, "validate", "-o", "json", d)
	if err != nil {
		t.Fatal(err)
	}
	var v validation
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	apps := v.Files[0].Apps
	if len(apps) != 2 || !apps[0].Default || strings.Join(apps[0].Policies, ",") != "predictive" || apps[1].Default || len(apps[1].Policies) != 0 {
		t.Errorf("apps %+v", apps)
	}
}
