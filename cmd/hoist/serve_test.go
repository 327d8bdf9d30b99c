package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/api"
	"github.com/hoist/hoist/internal/apiclient"
	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/config"
)

const (
	viewerTok   = "viewer-tok-0123456789"
	operatorTok = "operator-tok-0123456789"
	adminTok    = "admin-tok-0123456789xyz"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// running is a Runtime as `hoist run` makes it, run in this process.
type running struct {
	rt   *Runtime
	url  string
	stop func()
	out  *syncBuffer
}

// testDefaults: `hoist run` in tests listens on a free port by default.
func testDefaults() cliDefaults { return cliDefaults{listen: "127.0.0.1:0"} }

// startRuntime builds the runtime of cfg (the quickstart when nil) with opt
// (listening on a free loopback port unless opt.Listen says otherwise, at
// 20x speed unless opt.Speed says otherwise), runs it until the test ends,
// and waits for its first tick.
func startRuntime(t *testing.T, cfg *config.Config, opt runtimeOptions) *running {
	t.Helper()
	if cfg == nil {
		var err error
		if cfg, err = loadConfig(opt.ConfigPath); err != nil {
			t.Fatal(err)
		}
	}
	if opt.Listen == "" {
		opt.Listen = "127.0.0.1:0"
	}
	if opt.Speed == 0 {
		opt.Speed = 20
	}
	r := &running{out: &syncBuffer{}}
	opt.Out, opt.Quiet, opt.noSignalHandling = r.out, true, true
	rt, err := newRuntime(context.Background(), cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	r.rt, r.url = rt, rt.URL()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("the runtime did not stop")
		}
		rt.Close()
	}
	t.Cleanup(r.stop)
	waitUntil(t, "the first tick", func() bool { p, _ := rt.Engine.Last(); return p != nil })
	return r
}

// waitUntil polls cond (a server starting, a goroutine's file write).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cli runs a hoist command and returns its output.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd(testDefaults())
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func tokensFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens")
	data := "viewer " + viewerTok + "\noperator " + operatorTok + "\nadmin " + adminTok + "\n"
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServeTLSTokensAndCLI(t *testing.T) {
	data := t.TempDir()
	opt := runtimeOptions{Data: data, Tokens: tokensFile(t), SelfSigned: true}
	r := startRuntime(t, nil, opt)
	if !strings.HasPrefix(r.url, "https://") {
		t.Fatalf("not TLS: %s", r.url)
	}
	ca := filepath.Join(data, auth.CertFile)
	common := []string{"--server", r.url, "--ca", ca}
	t.Setenv("HOIST_TOKEN", operatorTok)

	out, err := cli(t, append([]string{"apps", "ls"}, common...)...)
	if err != nil || !strings.Contains(out, "web") || !strings.Contains(out, "descriptor") {
		t.Fatalf("apps ls: %v\n%s", err, out)
	}
	out, err = cli(t, append(append([]string{"apps", "deploy"}, common...), "--name", "batch", "--image", "busybox",
		"--pool", "workers", "--limit-cpu", "0.5", "--reserve-cpu", "0.25", "--reserve-memory", "64MiB", "--replicas-max", "3", "--target-cpu", "50")...)
	if err != nil || !strings.Contains(out, "batch registered") {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	out, err = cli(t, append(append([]string{"pool", "scale"}, common...), "workers", "=99")...)
	if err != nil || !strings.Contains(out, "clamped to 1..6") {
		t.Fatalf("scale: %v\n%s", err, out)
	}
	out, err = cli(t, append(append([]string{"apps", "set-policy"}, common...), "web", "--max", "9")...)
	if err != nil || !strings.Contains(out, "policy set") {
		t.Fatalf("set-policy: %v\n%s", err, out)
	}
	out, err = cli(t, append([]string{"apps", "show", "web", "-o", "json"}, common...)...)
	if err != nil || !strings.Contains(out, `"overridden": true`) {
		t.Fatalf("show: %v\n%s", err, out)
	}
	out, err = cli(t, append([]string{"events", "--kind", "pool", "-n", "5"}, common...)...)
	if err != nil || !strings.Contains(out, "scaleto 99") {
		t.Fatalf("events: %v\n%s", err, out)
	}
	// Without --ca the self-signed certificate is refused.
	if _, err := cli(t, "apps", "ls", "--server", r.url); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate accepted: %v", err)
	}
	// A viewer may not reload; an admin may.
	t.Setenv("HOIST_TOKEN", viewerTok)
	var ae *api.Error
	if _, err := cli(t, append([]string{"reload"}, common...)...); !errors.As(err, &ae) || ae.Status != 403 {
		t.Fatalf("viewer reload: %v", err)
	}
	t.Setenv("HOIST_TOKEN", adminTok)
	if out, err := cli(t, append([]string{"reload"}, common...)...); err != nil || !strings.Contains(out, "reloaded") {
		t.Fatalf("admin reload: %v %s", err, out)
	}
	r.stop()

	// No secret in the data directory or the output.
	secrets := []string{viewerTok, operatorTok, adminTok}
	err = filepath.Walk(data, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a token in clear", p)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(r.out.String(), s) {
			t.Error("a token was printed")
		}
	}

	// A restart on the same data finds the registered app and the override.
	r2 := startRuntime(t, nil, opt)
	if a, ok := r2.rt.Engine.Config().App("web"); !ok || a.Replicas.Max != 9 {
		t.Fatalf("override lost across the restart: %+v", a.Replicas)
	}
	t.Setenv("HOIST_TOKEN", viewerTok)
	out, err = cli(t, append([]string{"apps", "ls"}, "--server", r2.url, "--ca", ca)...)
	if err != nil || !strings.Contains(out, "batch") || !strings.Contains(out, "descriptor*") {
		t.Fatalf("after restart: %v\n%s", err, out)
	}
	out, err = cli(t, "events", "--kind", "pool", "--server", r2.url, "--ca", ca)
	if err != nil || !strings.Contains(out, "scaleto 99") {
		t.Fatalf("events lost across the restart: %v\n%s", err, out)
	}
}

func TestServeRefusesInsecureRemote(t *testing.T) {
	for _, c := range []struct {
		name string
		opt  runtimeOptions
	}{
		{"no tls, no tokens", runtimeOptions{Listen: "0.0.0.0:0"}},
		{"tls, no tokens", runtimeOptions{Listen: "0.0.0.0:0", Data: t.TempDir()}},
	} {
		cfg, _ := loadConfig("")
		rt, err := newRuntime(context.Background(), cfg, c.opt)
		if err == nil {
			rt.Close()
		}
		if !errors.Is(err, auth.ErrInsecureListen) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// The scale amounts and the calls they make, over a real listener.
func TestScaleCall(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.Path+" "+strings.TrimSpace(string(b)))
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"pool":"w","target":1}`)
	}))
	defer srv.Close()
	c, err := apiclient.New(apiclient.Options{Server: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"+2": `POST /v1/pools/w/scaleup {"count":2}`, "-1": `POST /v1/pools/w/scaledown {"count":1}`,
		"=5": "POST /v1/pools/w/scaleto/5 ", "=0": "POST /v1/pools/w/scaleto/0 ",
		"2": "", "+": "", "+0": "", "-x": "", "*3": "",
	} {
		got = nil
		call, err := scaleCall(in)
		if want == "" {
			if !errors.Is(err, errScaleArg) {
				t.Errorf("%q: %v", in, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if _, err := call(context.Background(), c, "w"); err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
}

func TestRunFlags(t *testing.T) {
	cmd := newRunCmd(testDefaults())
	err := cmd.Flags().Parse([]string{"--tls-self-signed", "--event-retention", "50", "--event-max-age", "2h", "--insecure-allow-remote-plaintext=false"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"tls-self-signed": "true", "event-retention": "50", "event-max-age": "2h0m0s", "insecure-allow-remote-plaintext": "false"} {
		if got := cmd.Flags().Lookup(name).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}
	if err := cmd.Flags().Parse([]string{"--event-retention", "-3"}); err == nil {
		t.Error("negative retention accepted")
	}
	if err := cmd.Flags().Parse([]string{"--event-max-age", "soon"}); err == nil {
		t.Error("bad duration accepted")
	}
}
