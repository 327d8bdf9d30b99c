package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `hoist balancer config` on the example descriptor prints a configuration
// the real haproxy accepts; an app without a balancer is an error.
func TestBalancerConfigCommand(t *testing.T) {
	run := func(args ...string) (string, error) {
		root := newRootCmd(testDefaults())
		var b bytes.Buffer
		root.SetOut(&b)
		root.SetErr(io.Discard)
		root.SetArgs(append([]string{"balancer", "config", "--config", "../../examples/balancer.yaml"}, args...))
		err := root.Execute()
		return b.String(), err
	}
	out, err := run("demo")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "# demo-lb (Swarm config demo-lb-") || !strings.Contains(out, "server-template demo 16 tasks.demo:8080") {
		t.Fatalf("output:\n%s", out)
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		bin = "/usr/sbin/haproxy" // Debian's, installed by scripts/deps
	}
	if b, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, b)
	}
	if _, err := run("nope"); err == nil {
		t.Error("no error for an app without a balancer")
	}
}
