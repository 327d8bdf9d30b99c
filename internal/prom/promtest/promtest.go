// Package promtest runs the real Prometheus tools for hoist's tests:
// promtool, and a Prometheus server on a loopback port in a temporary
// directory, stopped (by its PID) when the test ends.
package promtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Binary returns the path of a Debian-packaged tool (prometheus, promtool,
// prometheus-alertmanager). When it is missing the test is skipped, except in
// CI (CI=true), where a missing real part is a failure.
func Binary(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (scripts/deps installs it): %v", name, err)
	}
	t.Skipf("%s is not installed (run scripts/deps as root)", name)
	return ""
}

// Promtool runs promtool with args and stdin, and returns its combined output
// and error.
func Promtool(t testing.TB, stdin []byte, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(Binary(t, "promtool"), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// FreePort returns a loopback TCP port free at the time of the call.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Server is a Prometheus started for one test.
type Server struct {
	URL      string
	Dir      string
	RulesDir string
	cmd      *exec.Cmd
}

// Start runs Prometheus with the lifecycle API, a 1s evaluation interval,
// rule_files RulesDir/*.yml and the given scrape_configs (YAML, may be
// empty), and waits until it is ready.
func Start(t testing.TB, scrapeConfigs string) *Server {
	t.Helper()
	return StartWithData(t, scrapeConfigs, "")
}

// StartWithData is Start on an existing TSDB directory (e.g. blocks made by
// `promtool tsdb create-blocks-from`); "" is a new one.
func StartWithData(t testing.TB, scrapeConfigs, dataDir string) *Server {
	t.Helper()
	bin := Binary(t, "prometheus")
	dir := t.TempDir()
	if dataDir == "" {
		dataDir = filepath.Join(dir, "data")
	}
	s := &Server{Dir: dir, RulesDir: filepath.Join(dir, "rules")}
	if err := os.MkdirAll(s.RulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - %s/*.yml\n", s.RulesDir)
	if scrapeConfigs != "" {
		cfg += "scrape_configs:\n" + scrapeConfigs
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	s.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+dataDir,
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port), "--web.enable-lifecycle")
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("prometheus log:\n%s", tail(b, 4000))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/-/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("prometheus not ready at %s within 30s", s.URL)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Backfill turns OpenMetrics text (ending in "# EOF") into TSDB blocks with
// `promtool tsdb create-blocks-from openmetrics` and returns their directory,
// for StartWithData: history Prometheus itself stored, without waiting for it.
func Backfill(t testing.TB, openMetrics []byte) string {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "input.om")
	if err := os.WriteFile(in, openMetrics, 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	// Week-long blocks: a few blocks instead of one per 2 h, so both promtool
	// and Prometheus's start stay quick.
	if out, err := Promtool(t, nil, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=168h", in, data); err != nil {
		t.Fatalf("promtool tsdb create-blocks-from openmetrics: %v\n%s", err, tail([]byte(out), 4000))
	}
	return data
}
