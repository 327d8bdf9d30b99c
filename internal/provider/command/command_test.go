package command

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
)

// script writes an executable shell script into dir.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// fleet is a fake cloud kept in a directory: one file per machine.
func fleet(t *testing.T) (dir string, opt Options) {
	dir = t.TempDir()
	state := filepath.Join(dir, "machines")
	os.Mkdir(state, 0o755)
	opt = Options{
		Pool: "workers", Backoff: 10 * time.Millisecond, Timeout: 5 * time.Second,
		Env: []string{"STATE=" + state},
		Create: script(t, dir, "create", `set -e
echo "creating $1 in pool $2 ($HOIST_MACHINE/$HOIST_POOL)" >&2
[ -f "$STATE/$1" ] || echo 10.0.0.$(ls "$STATE" | wc -l) > "$STATE/$1"
printf '{"name":"%s","status":"running","addr":"%s","id":"vm-%s"}\n' "$1" "$(cat "$STATE/$1")" "$1"
`),
		Destroy: script(t, dir, "destroy", `rm -f "$STATE/$1"; echo "destroyed $1" >&2`),
		List: script(t, dir, "list", `printf '['; sep=''
for f in "$STATE"/*; do [ -e "$f" ] || continue
  printf '%s{"name":"%s","status":"running","addr":"%s"}' "$sep" "$(basename "$f")" "$(cat "$f")"; sep=','
done; echo ']'`),
	}
	return dir, opt
}

func TestContract(t *testing.T) {
	_, opt := fleet(t)
	p, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := p.Create(ctx, "workers-a")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "workers-a" || m.Status != cluster.MachineRunning || m.Addr != "10.0.0.0" || m.ID != "vm-workers-a" || m.Pool != "workers" {
		t.Fatalf("machine = %+v", m)
	}
	if !strings.Contains(m.Detail, "creating workers-a in pool workers (workers-a/workers)") {
		t.Errorf("detail should keep the script's stderr: %q", m.Detail)
	}
	if again, err := p.Create(ctx, "workers-a"); err != nil || again.Addr != m.Addr {
		t.Fatalf("create again: %+v %v", again, err)
	}
	p.Create(ctx, "workers-b")
	ms, err := p.List(ctx)
	if err != nil || len(ms) != 2 || ms[1].Name != "workers-b" || ms[1].Addr != "10.0.0.1" {
		t.Fatalf("list = %+v, %v", ms, err)
	}
	if err := p.Destroy(ctx, "workers-a"); err != nil {
		t.Fatal(err)
	}
	if err := p.Destroy(ctx, "workers-a"); err != nil {
		t.Fatalf("destroying a missing machine: %v", err)
	}
	if ms, _ := p.List(ctx); len(ms) != 1 {
		t.Fatalf("after destroy: %+v", ms)
	}
}

func TestBadScripts(t *testing.T) {
	dir, base := fleet(t)
	ctx := context.Background()
	cases := []struct {
		name    string
		create  string
		want    error
		mention string
		timeout time.Duration // default 700ms
	}{
		{"garbage", `echo "Machine created!"; echo "<html>oops" >&2`, ErrContract, "Machine created!", 0},
		{"two objects", `echo '{"name":"x","status":"running"}{"name":"y","status":"running"}'`, ErrContract, "more than one", 0},
		{"bad status", `echo '{"name":"'$1'","status":"up"}'`, ErrContract, `"up"`, 0},
		{"other name", `echo '{"name":"someone-else","status":"running"}'`, ErrContract, "someone-else", 0},
		{"silent", `true`, ErrContract, "empty output", 0},
		{"exit 3", `echo "quota exceeded in region x" >&2; exit 3`, ErrFailed, "quota exceeded", 0},
		{"hangs", `echo "waiting for the cloud" >&2; sleep 60`, ErrTimeout, "waiting for the cloud", 0},
		{"hangs in a child", `(sleep 60; echo late) & sleep 60`, ErrTimeout, "killed", 0},
		// More than the 1 MiB kept; given time to finish on a busy machine.
		{"endless output", `yes '{"name":' | head -c 1500000`, ErrContract, "stdout must be", 4 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opt := base
			opt.Timeout = 700 * time.Millisecond
			if c.timeout > 0 {
				opt.Timeout = c.timeout
			}
			opt.Create = script(t, dir, "create-"+strings.ReplaceAll(c.name, " ", "-"), c.create)
			p, _ := New(opt)
			start := time.Now()
			_, err := p.Create(ctx, "workers-z")
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %s: a bad script must not hold the caller", took)
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("err = %v; want %v mentioning %q", err, c.want, c.mention)
			}
		})
	}
}

func TestRetriesWithBackoff(t *testing.T) {
	dir, opt := fleet(t)
	// Fails twice, then works: a flaky cloud API.
	opt.Create = script(t, dir, "flaky", `n=$(cat "$STATE/../tries" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$STATE/../tries"
[ $n -ge 3 ] || { echo "try $n: API error 503" >&2; exit 1; }
echo '{"name":"'$1'","status":"creating"}'`)
	opt.Retries = 2
	p, _ := New(opt)
	m, err := p.Create(context.Background(), "workers-f")
	if err != nil || m.Status != cluster.MachineCreating {
		t.Fatalf("create = %+v, %v", m, err)
	}
	os.Remove(filepath.Join(dir, "tries"))
	opt.Retries = 1
	p, _ = New(opt)
	_, err = p.Create(context.Background(), "workers-f")
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "failed 2 times") || !strings.Contains(err.Error(), "try 2: API error 503") {
		t.Fatalf("err = %v", err)
	}
}

func TestListContract(t *testing.T) {
	dir, opt := fleet(t)
	ctx := context.Background()
	for body, want := range map[string]string{
		`echo '{"name":"a","status":"running"}'`:  "JSON array",
		`echo '[{"status":"running"}]'`:           `"name" is missing`,
		`echo '[{"name":"a","status":"booted"}]'`: "booted",
	} {
		opt.List = script(t, dir, "list-bad", body)
		p, _ := New(opt)
		if _, err := p.List(ctx); !errors.Is(err, ErrContract) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", body, err, want)
		}
	}
	opt.List = script(t, dir, "list-empty", `echo '[]'`)
	p, _ := New(opt)
	if ms, err := p.List(ctx); err != nil || len(ms) != 0 {
		t.Errorf("empty list = %v, %v", ms, err)
	}
	// A list that hangs is cut at ListTimeout; a concurrent call does not queue behind it.
	opt.List = script(t, dir, "list-hang", `sleep 30`)
	opt.ListTimeout = 500 * time.Millisecond
	p, _ = New(opt)
	done := make(chan error, 1)
	go func() { _, err := p.List(ctx); done <- err }()
	time.Sleep(100 * time.Millisecond)
	if _, err := p.List(ctx); !errors.Is(err, ErrBusy) {
		t.Errorf("concurrent list: %v", err)
	}
	if err := <-done; !errors.Is(err, ErrTimeout) {
		t.Errorf("hung list: %v", err)
	}
}
