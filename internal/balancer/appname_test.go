package balancer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A stack's service name (STACK_SERVICE, as docker stack deploy makes it)
// is an app name: the real haproxy takes it as proxy, server and DNS name.
func TestRenderStackServiceName(t *testing.T) {
	bin := haproxyBin(t)
	p := Params{App: "shop_web", Algorithm: "leastconn", Port: 80, StatsPort: 8404, BackendPort: 8080,
		Check: "/healthz", Slots: 16, Network: "hoist-shop_web"}
	got, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, got, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "WARNING") {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, got)
	}
	if !strings.Contains(string(got), "server-template shop_web 16 tasks.shop_web:8080") {
		t.Errorf("no server template for tasks.shop_web:\n%s", got)
	}
}
