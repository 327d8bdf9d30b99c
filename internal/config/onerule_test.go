package config_test

import (
	"strings"
	"testing"

	"github.com/hoist/hoist/internal/balancer"
	"github.com/hoist/hoist/internal/config"
)

const withBalancer = `
pools:
  - {name: workers, max: 3, machine: {cpus: 2, memory: 4GiB}}
  - {name: edge, max: 2, machine: {cpus: 1, memory: 1GiB}}
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    port: 8080
    balancer: {pool: edge, check: CHECK}
`

// A health check path the descriptor's validation accepts is one HAProxy's
// rendering accepts, and the other way round: one rule, in one place.
func TestBalancerCheckPathOneRule(t *testing.T) {
	paths := []string{"/", "/health", "/healthz?full=1", "/a/b-c_d.e~f", "/%20", "/v1/health;x=1", "/a:b@c!$&'()*+,=",
		"health", "/a b", "/a#b", `/a\b`, "/a{b}", "/é", "/a|b", "/a<b>", "/a^b", "/a`b", "/" + strings.Repeat("a", 2000)}
	for _, p := range paths {
		text := strings.Replace(withBalancer, "CHECK", "'"+strings.ReplaceAll(p, "'", "''")+"'", 1)
		cfg, perr := config.Parse("b.yaml", []byte(text))
		app := config.App{Name: "web", Port: 8080, Balancer: &config.Balancer{Pool: "edge", Check: p}}
		app.SetDefaults()
		params, ok := balancer.ParamsOf(app)
		if !ok {
			t.Fatal("no balancer parameters")
		}
		_, rerr := balancer.Render(params)
		if (perr == nil) != (rerr == nil) {
			t.Errorf("check %q: validation says %v, rendering says %v", p, perr, rerr)
		}
		if perr == nil && cfg.Apps[0].Balancer.Check != p {
			t.Errorf("check %q read as %q", p, cfg.Apps[0].Balancer.Check)
		}
	}
}
