package config

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// Every spelling YAML reads as NaN or infinity is refused, in any number of
// the descriptor, with the field's position.
func TestNonFiniteNumbersAreRefused(t *testing.T) {
	spellings := []string{".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "-.inf", "-.Inf", "+.INF", "'NaN'", "'inf'", "'-Infinity'"}
	fields := []struct{ old, new, path string }{
		{"target: 60", "target: X", "apps[0].policies[0].target"},
		{"target: 60", "target: 60\n        tolerance: X", "apps[0].policies[0].tolerance"},
		{"cpus: 2", "cpus: X", "pools[0].machine.cpus"},
		{"cpus: 0.5", "cpus: X", "apps[0].resources.reservations.cpus"},
		{"max: 3", "max: 3\n    scale_down: {below: X}", "pools[0].scale_down.below"},
		{"max: 3", "max: 3\n    scale_down: {consolidate: X}", "pools[0].scale_down.consolidate"},
		{"pools:", "controller: {anomaly: {threshold: X}}\npools:", "controller.anomaly.threshold"},
	}
	for _, f := range fields {
		for _, sp := range spellings {
			text := strings.Replace(minimal, f.old, strings.Replace(f.new, "X", sp, 1), 1)
			_, err := Parse("n.yaml", []byte(text))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("%s = %s: accepted (%v)", f.path, sp, err)
			}
			if len(errs) != 1 || errs[0].Path != f.path || !strings.Contains(errs[0].Msg, "must be a finite number") || errs[0].Line < 2 {
				t.Errorf("%s = %s: %v", f.path, sp, err)
			}
		}
	}
}

// A descriptor built in code gets the same rule through Validate.
func TestValidateRefusesNonFiniteNumbers(t *testing.T) {
	cfg, err := Parse("min.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Apps[0].Policies[0].Target = math.NaN()
	inf := math.Inf(1)
	cfg.Apps[0].Policies[0].Tolerance = &inf
	err = cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "apps[0].policies[0].target: must be a finite number, not NaN") ||
		!strings.Contains(err.Error(), "apps[0].policies[0].tolerance: must be a finite number, not +Inf") {
		t.Fatalf("Validate = %v", err)
	}
	app := cfg.Apps[0]
	if errs := app.Check(map[string]*Pool{"workers": &cfg.Pools[0]}); len(errs) == 0 || !strings.Contains(errs[0].Error(), "policies[0].target: must be a finite number") {
		t.Fatalf("App.Check = %v", errs)
	}
}

// Compose writes cpus as a string ('0.50'): any number may be quoted.
func TestQuotedNumbers(t *testing.T) {
	cfg, err := Parse("q.yaml", []byte(strings.Replace(minimal, "cpus: 0.5", "cpus: '0.50'", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Apps[0].Resources.Reservations.CPUs; got != 0.5 {
		t.Fatalf("cpus = %v, want 0.5", got)
	}
	_, err = Parse("q.yaml", []byte(strings.Replace(minimal, "cpus: 0.5", "cpus: 'half'", 1)))
	if err == nil || !strings.Contains(err.Error(), `q.yaml:12:28: apps[0].resources.reservations.cpus: must be a number, not "half"`) {
		t.Fatalf("error = %v", err)
	}
}

// Real references, as `docker service create` takes them, pass; anything
// that could forge a line where the image is printed does not.
func TestCheckImage(t *testing.T) {
	good := []string{
		"nginx", "nginx:1.27", "nginx:1.27-alpine", "library/nginx:latest", "docker.io/library/busybox:1.36",
		"hoist/demoapp:latest", "hoist/haproxy:latest", "localhost:5000/hoist/demoapp:latest", "127.0.0.1:5000/demo",
		"ghcr.io/prometheus/prometheus:v3.1.0", "quay.io/prometheus/alertmanager:v0.28.0", "registry.k8s.io/pause:3.10",
		"haproxy:3.0@sha256:7c8e1ab5a5ba6f03d6e9eb5a0ce45dbde4e4bd0b3a4adf7b1c6c3b2e0e0e9c1f",
		"mcr.microsoft.com/dotnet/aspnet:8.0", "my-registry.example.com:443/team_a/app.web__x:1.0.0_rc-1",
	}
	for _, ref := range good {
		if err := CheckImage(ref); err != nil {
			t.Errorf("CheckImage(%q) = %v", ref, err)
		}
	}
	bad := []string{
		"", "Nginx", "nginx:", ":latest", "nginx latest", "nginx:latest\n", "nginx\nFORGED line", "nginx\t", " nginx",
		"\x1b[31mred\x1b[0m", "hoist/demoapp:latest\r", "nginx:1.27@sha256:abc", "a//b", "-a", "nginx:" + strings.Repeat("x", 129),
		"http://nginx", "nginx\x00",
	}
	for _, ref := range bad {
		err := CheckImage(ref)
		if !errors.Is(err, ErrImage) {
			t.Errorf("CheckImage(%q) = %v, want ErrImage", ref, err)
			continue
		}
		if strings.ContainsAny(err.Error(), "\n\r\x1b\x00\t") {
			t.Errorf("CheckImage(%q): the message holds a control character: %q", ref, err.Error())
		}
	}
}

func TestParseRefusesAppsWithoutImage(t *testing.T) {
	_, err := Parse("x.yaml", []byte(strings.Replace(minimal, "    image: hoist/demoapp:latest\n", "", 1)))
	if err == nil || !strings.Contains(err.Error(), "x.yaml:7:5: apps[0].image: is required") {
		t.Fatalf("error = %v", err)
	}
	_, err = Parse("x.yaml", []byte(strings.Replace(minimal, "image: hoist/demoapp:latest", `image: "x\u001b]0;owned\u0007"`, 1)))
	if err == nil || !strings.Contains(err.Error(), `x.yaml:8:12: apps[0].image: not a Docker image reference: "x\x1b]0;owned\a"`) {
		t.Fatalf("error = %v", err)
	}
}

// A key with a line break or an escape is quoted in the path, so an error
// message is always one line.
func TestUnknownKeysAreQuoted(t *testing.T) {
	_, err := Parse("x.yaml", []byte(minimal+"\"evil\\nx.yaml:1:1: ok\\u001b[2J\": 1\n"))
	if err == nil || strings.Count(err.Error(), "\n") != 0 || strings.Contains(err.Error(), "\x1b") {
		t.Fatalf("error = %q", err)
	}
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"/", "/health", "/healthz?full=1", "/a/b-c_d.e~f", "/%20", "/v1/health;x=1"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"health", "/a b", "/a\nb", "/a\"b", "/a'b", "/a#b", "/a\\b", "/\x1b[2J", "/é", "/" + strings.Repeat("a", maxCheckPath)} {
		if err := CheckPath(p); !errors.Is(err, ErrCheckPath) {
			t.Errorf("CheckPath(%q) = %v", p, err)
		}
	}
}

const colApps = `
pools:
  - {name: workers, max: 3, machine: {cpus: 2, memory: 4GiB}}
  - {name: edge, max: 2, machine: {cpus: 1, memory: 1GiB}}
apps:
  - name: col-lb
    image: nginx
    pools: [workers]
`

// The API checks an app against the running descriptor with CheckApp: the
// same rules as the descriptor's, including those between apps.
func TestCheckApp(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(colApps))
	if err != nil {
		t.Fatal(err)
	}
	col := App{Name: "col", Image: "nginx", Pools: []string{"workers"}, Port: 80, Balancer: &Balancer{Pool: "edge"}}
	err = cfg.CheckApp(col)
	if err == nil || !strings.Contains(err.Error(), `c.yaml:0:0: balancer: its app would be named "col-lb", which another app has`) {
		t.Fatalf("col after col-lb: %v", err)
	}
	if col.Balancer.Port != 0 || col.Replicas.Min != 0 {
		t.Fatalf("CheckApp changed its argument: %+v", col)
	}

	// The other order: col-lb registered after col.
	cfg.Apps[0] = col
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	err = cfg.CheckApp(App{Name: "col-lb", Image: "nginx", Pools: []string{"workers"}})
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Path != "name" || !strings.Contains(errs[0].Msg, "clashes with app col (apps[0].balancer)") {
		t.Fatalf("col-lb after col: %v", err)
	}

	// Its own rules: an image, finite numbers, its pools.
	err = cfg.CheckApp(App{Name: "new", Pools: []string{"gpu"}, Policies: []Policy{{Type: PolicyTarget, Metric: "cpu", Target: math.Inf(1)}}})
	for _, want := range []string{"image: is required", "pools[0]: no pool named \"gpu\"", "policies[0].target: must be a finite number"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want %q", err, want)
		}
	}
	// Replacing an app by a valid version of itself is fine.
	if err := cfg.CheckApp(App{Name: "col", Image: "nginx:1.27", Pools: []string{"workers"}}); err != nil {
		t.Fatal(err)
	}
}
