package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/sim"
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

// running is `hoist run` on the simulator, its loop stepped by the test.
type running struct {
	rt     *Runtime
	opt    *runOptions
	url    string
	done   func()
	stop   context.CancelFunc
	served chan error
	out    *syncBuffer
}

// startRun builds the runtime as runSimulated does (simHooks, then the
// serve hook) with the given flags.
func startRun(t *testing.T, opt *runOptions) *running {
	t.Helper()
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	var so sim.StackOptions
	attach, done, err := simDurable(cfg, opt, &so)
	if err != nil {
		t.Fatal(err)
	}
	stack, err := sim.NewStack(cfg, so)
	if err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{Config: cfg, Engine: stack.Engine, Events: stack.Events, Sim: stack}
	attach(rt)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{rt: rt, opt: opt, done: done, stop: cancel, served: make(chan error, 1), out: &syncBuffer{}}
	go func() { r.served <- serve(ctx, rt, opt, r.out) }()
	re := regexp.MustCompile(`API on (\S+)/v1`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(r.out.String()); m != nil {
			r.url = m[1]
			break
		}
		select {
		case err := <-r.served:
			t.Fatalf("serve: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if r.url == "" {
		t.Fatalf("server did not start: %s", r.out.String())
	}
	for i := 0; i < 3; i++ {
		if _, err := stack.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func (r *running) close(t *testing.T) {
	t.Helper()
	r.stop()
	if err := <-r.served; err != nil {
		t.Errorf("serve returned %v", err)
	}
	r.done()
}

// cli runs a hoist command and returns its output.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
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
	opt := &runOptions{listen: "127.0.0.1:0", data: data, tokens: tokensFile(t),
		extra: map[string]string{flagSelfSigned: "true"}}
	r := startRun(t, opt)
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
	var ae *apiError
	if _, err := cli(t, append([]string{"reload"}, common...)...); !errors.As(err, &ae) || ae.Status != 403 {
		t.Fatalf("viewer reload: %v", err)
	}
	t.Setenv("HOIST_TOKEN", adminTok)
	if out, err := cli(t, append([]string{"reload"}, common...)...); err != nil || !strings.Contains(out, "reloaded") {
		t.Fatalf("admin reload: %v %s", err, out)
	}
	r.close(t)

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
	opt2 := &runOptions{listen: "127.0.0.1:0", data: data, tokens: opt.tokens, extra: map[string]string{flagSelfSigned: "true"}}
	r2 := startRun(t, opt2)
	defer r2.close(t)
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
	cfg, _ := loadConfig("")
	for _, c := range []struct {
		name string
		opt  *runOptions
	}{
		{"no tls, no tokens", &runOptions{listen: "0.0.0.0:0", extra: map[string]string{}}},
		{"tls, no tokens", &runOptions{listen: "0.0.0.0:0", data: t.TempDir(), extra: map[string]string{}}},
	} {
		var so sim.StackOptions
		attach, done, err := simDurable(cfg, c.opt, &so)
		if err != nil {
			t.Fatal(err)
		}
		stack, _ := sim.NewStack(cfg, so)
		rt := &Runtime{Config: cfg, Engine: stack.Engine, Events: stack.Events, Sim: stack}
		attach(rt)
		err = serve(context.Background(), rt, c.opt, io.Discard)
		done()
		if !errors.Is(err, auth.ErrInsecureListen) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestScalePath(t *testing.T) {
	for in, want := range map[string]string{
		"+2": "/v1/pools/w/scaleup", "-1": "/v1/pools/w/scaledown", "=5": "/v1/pools/w/scaleto/5", "=0": "/v1/pools/w/scaleto/0",
		"2": "", "+": "", "+0": "", "-x": "", "*3": "",
	} {
		got, _, err := scalePath("w", in)
		if got != want || (want == "") != errors.Is(err, errScaleArg) {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
}

func TestRunFlags(t *testing.T) {
	cmd := newRunCmd()
	err := cmd.Flags().Parse([]string{"--tls-self-signed", "--event-retention", "50", "--event-max-age", "2h", "--insecure-allow-remote-plaintext=false"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{flagSelfSigned: "true", flagRetention: "50", flagMaxAge: "2h", flagInsecure: "false"} {
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
