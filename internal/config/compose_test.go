package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// The example stack file reads as the descriptor it stands for.
func TestComposeExample(t *testing.T) {
	cfg, err := Load("../../examples/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Pools) != 1 || cfg.Pools[0].Machine.Memory != 4<<30 || cfg.Interval().String() != "10s" {
		t.Fatalf("pools/controller from x-hoist: %+v %v", cfg.Pools, cfg.Interval())
	}
	if len(cfg.Apps) != 3 {
		t.Fatalf("apps = %d, want web, api, cache", len(cfg.Apps))
	}
	web, api, cache := cfg.Apps[0], cfg.Apps[1], cfg.Apps[2]
	if web.Name != "web" || web.Image != "hoist/demoapp:latest" || web.Port != 8080 || strings.Join(web.Env, ",") != "MODE=web" ||
		web.Replicas.Min != 2 || web.Replicas.Max != 16 || web.Resources.Limits.CPUs != 1 || web.Resources.Reservations.CPUs != 0.5 ||
		web.Resources.Limits.Memory != 512<<20 || web.Resources.Reservations.Memory != 256<<20 || strings.Join(web.Pools, ",") != "workers" ||
		web.Labels[labelNetwork] != "front" || len(web.Policies) != 1 || web.Policies[0].Target != 60 || web.Load == nil || web.SLO.LatencyP95.String() != "250ms" {
		t.Errorf("web = %+v", web)
	}
	if api.Image != "hoist/demoapp:latest" || strings.Join(api.Env, ",") != "MODE=api" || api.Resources.Limits.Memory != 256<<20 ||
		api.Replicas.Max != 8 || len(api.Pools) != 1 || api.Policies[0].Type != PolicyThreshold {
		t.Errorf("api = %+v", api)
	}
	// No x-hoist: the count is fixed, on the only pool.
	if cache.Image != "redis:7-alpine" || cache.Replicas.Min != 1 || cache.Replicas.Max != 1 || cache.Resources.Reservations.Memory != 64<<20 {
		t.Errorf("cache = %+v", cache)
	}
	var notes []string
	for _, n := range cfg.Notes {
		notes = append(notes, n.Error())
	}
	for _, want := range []string{
		"examples/compose.yaml:11:1: version: not used by hoist (ignored)",
		"examples/compose.yaml:15:3: services.web.logging: not used by hoist (ignored)",
		"services.web.ports[0]: the published port is not used",
		"services.web.deploy.restart_policy: not used by hoist (ignored)",
		"services.web.healthcheck: not used by hoist (ignored)",
		"services.cache.volumes: not used by hoist (ignored)",
		"networks: not used by hoist (ignored)",
	} {
		if !strings.Contains(strings.Join(notes, "\n"), want) {
			t.Errorf("notes lack %q:\n%s", want, strings.Join(notes, "\n"))
		}
	}
}

// A typo under x-hoist is refused with its line, beside every other problem,
// each named by its Compose path.
func TestComposeErrorsAreLocated(t *testing.T) {
	data, err := os.ReadFile("testdata/compose-typo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("c.yaml", data)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want Errors, got %v", err)
	}
	want := []string{
		`c.yaml:7:3: x-hoist.controler: unknown field (known: controller, pools, prometheus, sim)`,
		`c.yaml:14:17: services.web.deploy.replicas: 20 is outside x-hoist.replicas [1, 8]`,
		`c.yaml:16:24: services.web.deploy.resources.limits.cpus: must be a number, not "0.5O"`,
		`c.yaml:19:7: services.web.x-hoist.polices: unknown field (known: balancer, cooldown, load, on_anomaly, policies, pools, port, replicas, slo)`,
		`c.yaml:22:12: services.api.image: not a Docker image reference: "Hoist/API" (repository name (API) must be lowercase)`,
		`c.yaml:23:13: services.api.ports[0]: "80:http" is not a port such as 80, 8080:80 or 127.0.0.1:8080:80/tcp`,
		`c.yaml:25:31: services.api.x-hoist.replicas.max: max 2 is less than min 3`,
		`c.yaml:27:47: services.api.x-hoist.policies[0].target: must be a finite number, not ".nan"`,
	}
	got := make([]string, len(errs))
	for i, e := range errs {
		got[i] = e.Error()
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestComposeForms(t *testing.T) {
	const base = `
x-hoist:
  pools: [{name: a, max: 2, machine: {cpus: 2, memory: 2g}}, {name: b, max: 2, machine: {cpus: 4, memory: 8g}}]
services:
  s:
    image: nginx:1.27
`
	cases := []struct {
		name, extra string
		check       func(t *testing.T, a App)
		err         string
	}{
		{"placement picks the pool", `    deploy:
      placement: {constraints: ["node.labels.hoist.pool==b", "node.role == worker"]}
`, func(t *testing.T, a App) {
			if strings.Join(a.Pools, ",") != "b" {
				t.Errorf("pools = %v", a.Pools)
			}
		}, ""},
		{"two pools and none named", "", nil, "c.yaml:5:3: services.s.x-hoist.pools: at least one pool is required"},
		{"x-hoist pools", "    x-hoist: {pools: [a, b]}\n", func(t *testing.T, a App) {
			if len(a.Pools) != 2 {
				t.Errorf("pools = %v", a.Pools)
			}
		}, ""},
		{"port mapping, command string, labels list, vip", `    ports: [{target: 9000, published: 80}]
    command: serve --fast
    deploy:
      labels: ["team=web", "tier=front"]
      endpoint_mode: vip
    x-hoist: {pools: [a]}
`, func(t *testing.T, a App) {
			if a.Port != 9000 || strings.Join(a.Args, " ") != "serve --fast" || a.Labels["team"] != "web" || a.Labels[labelEndpoint] != "vip" {
				t.Errorf("app = %+v", a)
			}
		}, ""},
		{"global services are not apps", "    deploy: {mode: global}\n", func(t *testing.T, a App) {
			t.Errorf("a global service became an app: %+v", a)
		}, "no-app"},
		{"merge keys", "    <<: *d\n    x-hoist: {pools: [a]}\nx-d: &d\n  environment: {A: 1, B: \"two\"}\n", nil, "anchor"},
		{"quoted command", "    command: sh -c 'echo hi'\n    x-hoist: {pools: [a]}\n", nil, "c.yaml:7:14: services.s.command: quotes, escapes and variables need the list form"},
		{"environment without value", "    environment: [HOME]\n    x-hoist: {pools: [a]}\n", func(t *testing.T, a App) {
			if len(a.Env) != 0 {
				t.Errorf("env = %v", a.Env)
			}
		}, ""},
		{"x-hoist must be a mapping", "    x-hoist: [1]\n", nil, "c.yaml:7:14: services.s.x-hoist: must be a mapping of fields"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := base + tc.extra
			if tc.err == "anchor" {
				// The anchor must come first in the file.
				text = "x-d: &d\n  environment: {A: 1, B: \"two\"}\n" + base + "    <<: *d\n    x-hoist: {pools: [a]}\n"
			}
			cfg, err := Parse("c.yaml", []byte(text))
			switch tc.err {
			case "", "no-app":
				if err != nil {
					t.Fatal(err)
				}
				if tc.err == "no-app" {
					if len(cfg.Apps) != 0 {
						tc.check(t, cfg.Apps[0])
					}
					return
				}
				tc.check(t, cfg.Apps[0])
			case "anchor":
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(cfg.Apps[0].Env, ",") != "A=1,B=two" {
					t.Errorf("env = %v", cfg.Apps[0].Env)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
			}
		})
	}
}
