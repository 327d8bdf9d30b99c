package config

import (
	"os"
	"strings"
	"testing"
)

// A named policy is named in errors instead of its position; names are
// checked and unique within an app.
func TestPolicyNames(t *testing.T) {
	named := strings.Replace(minimal, "      - type: target\n", "      - type: target\n        name: cpu-60\n", 1)
	cases := []struct {
		name, doc, want string
	}{
		{"error names the policy", strings.Replace(named, "target: 60", "target: -60", 1), "apps[0].policies[cpu-60].target: must be > 0"},
		{"unknown field of a named policy", strings.Replace(named, "target: 60", "target: 60\n        bogus: 1", 1), "apps[0].policies[cpu-60].bogus: unknown field"},
		{"unnamed keeps its position", strings.Replace(minimal, "target: 60", "target: -60", 1), "apps[0].policies[0].target: must be > 0"},
		{"bad name", strings.Replace(named, "name: cpu-60", "name: 60cpu", 1), "apps[0].policies[0].name: \"60cpu\" must be lowercase letters"},
		{"name twice", named + "      - {type: target, name: cpu-60, metric: memory, target: 70}\n", "apps[0].policies[1].name: policy \"cpu-60\" is named twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v\nwant %q", err, c.want)
			}
		})
	}
	cfg, err := Parse("p.yaml", []byte(named))
	if err != nil {
		t.Fatal(err)
	}
	p := &cfg.Apps[0].Policies[0]
	if p.Name != "cpu-60" || p.Label(0) != "policies[cpu-60]" || PolicyLabel(3, "") != "policies[3]" {
		t.Errorf("name %q, label %q", p.Name, p.Label(0))
	}
}

// In a Compose file, under x-hoist, the same.
func TestPolicyNamesInCompose(t *testing.T) {
	data, err := os.ReadFile("../../examples/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(data), "        - type: target\n          metric: cpu        # percent of the CPU limit\n          target: 60\n",
		"        - type: target\n          name: cpu\n          metric: cpu\n          target: -1\n", 1)
	if doc == string(data) {
		t.Fatal("examples/compose.yaml changed: update the test")
	}
	_, err = Parse("c.yaml", []byte(doc))
	if err == nil || !strings.Contains(err.Error(), "services.web.x-hoist.policies[cpu].target: must be > 0") {
		t.Errorf("got %v", err)
	}
}
