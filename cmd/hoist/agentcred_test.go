package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/balancer"
	"github.com/hoist/hoist/internal/collector"
	"github.com/hoist/hoist/internal/swarm"
)

// The agents' credential is made once under --data (0600) and kept; a file
// others can read, a link or a short one is refused.
func TestAgentCredential(t *testing.T) {
	data := t.TempDir()
	c1, err := agentCredential("", data)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(data, AgentCredentialFile)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credential file: %v %v", st.Mode(), err)
	}
	if c2, err := agentCredential("", data); err != nil || c2 != c1 || len(c1) < minCredential {
		t.Fatalf("second run: %q %v (first %q)", c2, err, c1)
	}
	if c3, err := agentCredential("", ""); err != nil || c3 == c1 || len(c3) < minCredential {
		t.Fatalf("without --data: %q %v", c3, err)
	}
	if c, err := agentCredential(path, ""); err != nil || c != c1 {
		t.Fatalf("--agent-credential: %q %v", c, err)
	}

	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte(strings.Repeat("x", 32)), 0o644)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("x"), 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(path, link)
	for _, bad := range []string{open, short, link, filepath.Join(dir, "missing")} {
		if _, err := agentCredential(bad, ""); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	// A link planted where the credential is made is not followed.
	data2 := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	os.Symlink(target, filepath.Join(data2, AgentCredentialFile))
	if _, err := agentCredential("", data2); err == nil {
		t.Error("a symbolic link in the data directory was accepted")
	}
	if _, err := os.Stat(target); err == nil {
		t.Error("the credential was written through a link")
	}
}

// The agent, over a real listener, refuses /v1/stats without the
// credential or with a wrong one; the collector's client presents it.
func TestAgentRefusesWithoutCredential(t *testing.T) {
	const cred = "agent-credential-0123456789abcdef"
	cli, err := swarm.Dial("unix://" + filepath.Join(t.TempDir(), "no-docker.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveAgent(ctx, ln, &collector.Agent{Docker: cli, Credential: cred}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	url := "http://" + ln.Addr().String() + "/v1/stats"
	get := func(hc *http.Client, header string) int {
		req, _ := http.NewRequest("GET", url, nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, h := range []string{"", "Bearer wrong-credential-0123456789", "Bearer " + cred + "x", "Basic " + cred} {
		if code := get(http.DefaultClient, h); code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: HTTP %d", h, code)
		}
	}
	// With the credential the request reaches the report, which fails here
	// for want of a Docker daemon: past the check.
	if code := get(collector.CredentialClient(cred), ""); code != http.StatusBadGateway {
		t.Errorf("with the credential: HTTP %d", code)
	}
	// The command refuses to start without a credential.
	if _, err := cli2(t, "agent", "--listen", "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "credential") {
		t.Errorf("agent without a credential: %v", err)
	}
}

func cli2(t *testing.T, args ...string) (string, error) {
	t.Helper()
	t.Setenv("HOIST_AGENT_CREDENTIAL_FILE", "")
	return cli(t, args...)
}

// The Swarm runtime's own views (/collector/, /balancer/) need a viewer
// token when the API has tokens.
func TestSwarmViewsNeedAToken(t *testing.T) {
	tokens, err := auth.ParseTokens(strings.NewReader("viewer " + viewerTok + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.New(tokens, auth.Options{})
	b := &swarmBackend{coll: collector.New(collector.Options{}), lb: balancer.NewSource(balancer.SourceOptions{})}
	mux := http.NewServeMux()
	b.mount(mux, func(h http.Handler) http.Handler { return authn.Require(auth.RoleViewer, h) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, path := range []string{"/collector/nodes", "/collector/tasks", "/balancer/replicas"} {
		for token, want := range map[string]int{"": 401, "nope-0123456789abcdef": 401, viewerTok: 200} {
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != want {
				t.Errorf("%s with %q: HTTP %d, want %d", path, token, res.StatusCode, want)
			}
		}
	}
}
