package balancer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// maxRendered bounds the memory one configuration may take: the template's
// 4 KiB and each parameter a few times over, never more.
func maxRendered(p Params) int { return 4<<10 + 16*len(p.App) + 2*len(p.Check) + 16*len(p.Algorithm) }

// FuzzRender: Render either refuses the parameters with ErrParams or returns
// a configuration of bounded size, the same each time, with the template's
// lines and no more (no parameter starts a directive of its own), that the
// real `haproxy -c` accepts without a warning, within 10 s per input.
func FuzzRender(f *testing.F) {
	for _, p := range goldenParams {
		f.Add(p.App, p.Algorithm, p.Check, p.Port, p.StatsPort, p.BackendPort, p.Slots)
	}
	for _, check := range []string{"/a'b", `/a"b`, "/a b", "/a#b", `/a\b`, "/${HOME}", "/$HOME", "/%", "/%{+Q}o",
		"/?x=1&y=2", "/a;b", "/a\nb", "/" + strings.Repeat("a", 5000), "//", "/@:!*+,=~"} {
		f.Add("web", "roundrobin", check, 80, 8404, 8080, 16)
	}
	f.Add("a-b", "first", "", 1, 2, 3, 1)
	f.Add("web", "leastconn", "", 80, 80, 8080, 16)
	f.Add("web", "leastconn", "", 80, 8404, 8080, 1<<30)
	bin := haproxyBin(f)
	dir := f.TempDir()
	lines := map[bool]int{} // by "has a check path": the template's line count
	for _, p := range goldenParams {
		text, err := Render(p)
		if err != nil {
			f.Fatal(err)
		}
		lines[p.Check != ""] = bytes.Count(text, []byte("\n"))
	}
	f.Fuzz(func(t *testing.T, app, algorithm, check string, port, statsPort, backendPort, slots int) {
		p := Params{App: app, Algorithm: algorithm, Check: check, Port: port, StatsPort: statsPort,
			BackendPort: backendPort, Slots: slots, Network: "hoist-" + app}
		text, err := Render(p)
		if err != nil {
			if !errors.Is(err, ErrParams) || text != nil {
				t.Fatalf("Render(%+v) = %d bytes, %v; want nil and ErrParams", p, len(text), err)
			}
			return
		}
		if len(text) > maxRendered(p) {
			t.Fatalf("%d bytes rendered, more than %d", len(text), maxRendered(p))
		}
		if again, _ := Render(p); !bytes.Equal(text, again) {
			t.Fatal("two renderings differ")
		}
		if n := bytes.Count(text, []byte("\n")); n != lines[check != ""] {
			t.Fatalf("%d lines, the template has %d: a parameter made lines of its own:\n%s", n, lines[check != ""], text)
		}
		path := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(path, text, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "-c", "-f", path).CombinedOutput()
		if err != nil || bytes.Contains(out, []byte("WARNING")) {
			t.Fatalf("haproxy -c on what Render accepted (%+v): %v\n%s", p, err, out)
		}
	})
}
