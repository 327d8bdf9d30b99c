package engine

import (
	"strings"
	"testing"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
)

// A named policy is named in the decision's reason and votes, not counted.
func TestDecideNamesPolicies(t *testing.T) {
	doc := strings.Replace(decideConfig, "      - type: target\n", "      - type: target\n        name: rps-30\n", 1)
	cfg, err := config.Parse("decide.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		sample Sample
		reason string
	}{
		{"no data", Sample{Err: "scrape failed"}, "no data: policies[rps-30] (rps): scrape failed"},
		{"scale up", Sample{Value: 120, OK: true}, "policies[rps-30] "},
	} {
		t.Run(c.name, func(t *testing.T) {
			snap := new(dworld).node("n1", cluster.PhaseReady, 2).node("n2", cluster.PhaseReady, 2).snapshot(cfg, 4, c.sample)
			p, _ := decide(cfg, snap, newMemory())
			a := p.Apps[0]
			if !strings.HasPrefix(a.Reason, c.reason) || strings.Contains(a.Reason, "policies[0]") {
				t.Errorf("reason %q, want %q...", a.Reason, c.reason)
			}
			if len(a.Votes) != 1 || a.Votes[0].Name != "rps-30" || a.Votes[0].Policy != 0 {
				t.Errorf("votes %+v", a.Votes)
			}
		})
	}
}
