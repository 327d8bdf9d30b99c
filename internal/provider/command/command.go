// Package command is engine.Provider driving the operator's own scripts, as
// Elascale drove docker-machine: one command creates a machine, one destroys
// it, one lists the pool. The contract (docs/swarm.md, "command provider"):
//
//	create: CMD NAME POOL   stdout: one JSON machine object; exit 0
//	destroy: CMD NAME POOL  exit 0 when the machine is gone (also if it never existed)
//	list: CMD POOL          stdout: a JSON array of machine objects; exit 0
//
// A machine object is {"name", "status": "creating"|"running"|"failed",
// "id", "addr", "detail", "node_id"}; only name and status are required.
// Scripts log to stderr; the last lines of it are kept in errors and in the
// machine's detail, so they land in hoist's events. Each call has a timeout
// (the script's process group is killed when it passes) and create and
// destroy are retried with backoff; create must be idempotent by name, which
// makes the retries safe.
package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/keylock"
)

var _ engine.Provider = (*Provider)(nil)

// Errors callers may branch on.
var (
	ErrTimeout  = errors.New("script timed out")
	ErrFailed   = errors.New("script failed")
	ErrContract = errors.New("script broke the output contract")
	ErrBusy     = errors.New("previous list still running")
)

// Labeler labels a node that joined (swarm.Orchestrator fits); optional.
type Labeler interface {
	LabelNode(ctx context.Context, id string, labels map[string]string) error
}

// Options configure a Provider.
type Options struct {
	Pool                  string
	Create, Destroy, List string
	// Timeout bounds create and destroy (default 10m); list gets at most
	// ListTimeout (default 20s) since it runs on every tick.
	Timeout     time.Duration
	ListTimeout time.Duration
	// Retries are extra tries of a failed create or destroy (default 0).
	Retries int
	// Backoff is the wait before the first retry, doubled each time (default 2s).
	Backoff time.Duration
	// Env is added to the scripts' environment (e.g. HOIST_SWARM_MANAGER).
	Env []string
	// Dir is the scripts' working directory (default: hoist's).
	Dir     string
	Labeler Labeler
	Logger  *slog.Logger
}

// Provider runs the scripts of one pool.
type Provider struct {
	opt     Options
	log     *slog.Logger
	mu      sync.Mutex
	listing bool
	// locks serialise the calls for one machine name: scripts need not
	// guard against two creates of one name at once.
	locks keylock.Map
}

// New returns a provider.
func New(opt Options) (*Provider, error) {
	if opt.Pool == "" || opt.Create == "" || opt.Destroy == "" || opt.List == "" {
		return nil, errors.New("command provider: pool and the create, destroy and list commands are required")
	}
	if opt.Timeout == 0 {
		opt.Timeout = 10 * time.Minute
	}
	if opt.ListTimeout == 0 {
		opt.ListTimeout = 20 * time.Second
	}
	opt.ListTimeout = min(opt.ListTimeout, opt.Timeout)
	if opt.Backoff == 0 {
		opt.Backoff = 2 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Provider{opt: opt, log: opt.Logger.With("pool", opt.Pool)}, nil
}

// machineJSON is a machine as scripts print it.
type machineJSON struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	ID     string `json:"id"`
	Addr   string `json:"addr"`
	Detail string `json:"detail"`
	NodeID string `json:"node_id"`
}

func (m machineJSON) check() error {
	if m.Name == "" {
		return errors.New(`"name" is missing`)
	}
	switch cluster.MachineStatus(m.Status) {
	case cluster.MachineCreating, cluster.MachineRunning, cluster.MachineFailed:
		return nil
	}
	return fmt.Errorf(`"status" %s is not creating, running or failed`, clipQ(m.Status))
}

func (p *Provider) machine(m machineJSON) cluster.Machine {
	id := m.ID
	if id == "" {
		id = m.NodeID
	}
	return cluster.Machine{Name: m.Name, Pool: p.opt.Pool, ID: id, Status: cluster.MachineStatus(m.Status), Addr: m.Addr, Detail: m.Detail}
}

// result is one script run.
type result struct {
	stdout, stderr []byte
	took           time.Duration
}

// errorf builds an error that carries what the script said.
func (r result) errorf(sentinel error, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	if s := tailLines(r.stderr, 5); s != "" {
		msg += "; stderr: " + s
	}
	if s := snippet(r.stdout); s != "" {
		msg += "; stdout: " + s
	}
	return fmt.Errorf("%s: %w", msg, sentinel)
}

// tailLines is the last n lines of a script's output, as one line of at
// most 400 bytes.
func tailLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s := strings.TrimSpace(strings.Join(lines, " | "))
	if len(s) > 400 {
		s = "..." + s[len(s)-400:]
	}
	return printable(s)
}

// snippet is the start of a script's output, as one line.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return printable(s)
}

// clipQ quotes the start of a value a script printed, for an error.
func clipQ(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "..."
	}
	return strconv.Quote(s)
}

// printable replaces control characters and invalid UTF-8 in script output
// quoted in errors and events: a script must not forge log lines or drive
// the operator's terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || (unicode.IsControl(r) && r != ' ') {
			return '?'
		}
		return r
	}, s)
}

// exec runs cmd with args in its own process group, killed whole when the
// timeout passes (a script's children must not outlive it).
func (p *Provider) exec(ctx context.Context, what, cmd string, timeout time.Duration, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", cmd + ` "$@"`, "hoist-" + what}, args...)...)
	c.Dir = p.opt.Dir
	c.Env = append(append(os.Environ(), p.opt.Env...), "HOIST_POOL="+p.opt.Pool)
	if what != "list" {
		c.Env = append(c.Env, "HOIST_MACHINE="+args[0])
	}
	var out, errb limitedBuffer
	out.max, errb.max = 1<<20, 64<<10
	c.Stdout, c.Stderr = &out, &errb
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = 2 * time.Second // do not wait for pipes held by orphans
	start := time.Now()
	err := c.Run()
	r := result{stdout: out.Bytes(), stderr: errb.Bytes(), took: time.Since(start)}
	switch {
	case err == nil:
		return r, nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return r, r.errorf(ErrTimeout, "%s %s: no answer within %s, killed", what, strings.Join(args, " "), timeout)
	case ctx.Err() != nil:
		return r, fmt.Errorf("%s %s: %w", what, strings.Join(args, " "), ctx.Err())
	default:
		return r, r.errorf(ErrFailed, "%s %s: %v", what, strings.Join(args, " "), err)
	}
}

// limitedBuffer keeps the first max bytes: a script printing without end
// cannot exhaust memory.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// retry runs op up to 1+Retries times with doubling backoff.
func (p *Provider) retry(ctx context.Context, what string, op func() error) error {
	wait := p.opt.Backoff
	var errs []error
	for attempt := 0; ; attempt++ {
		err := op()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if attempt >= p.opt.Retries || ctx.Err() != nil || errors.Is(err, context.Canceled) {
			if len(errs) == 1 {
				return err
			}
			return fmt.Errorf("%s failed %d times, last: %w", what, len(errs), err)
		}
		p.log.Warn("script failed, retrying", "what", what, "attempt", attempt+1, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (after %v)", what, ctx.Err(), err)
		case <-t.C:
		}
		wait *= 2
	}
}

// Create implements engine.Provider.
func (p *Provider) Create(ctx context.Context, name string) (cluster.Machine, error) {
	defer p.locks.Lock(name)()
	var m cluster.Machine
	err := p.retry(ctx, "create "+name, func() error {
		r, err := p.exec(ctx, "create", p.opt.Create, p.opt.Timeout, name, p.opt.Pool)
		if err != nil {
			return err
		}
		mj, err := parseCreated(name, r)
		if err != nil {
			return err
		}
		if mj.NodeID != "" && p.opt.Labeler != nil {
			if err := p.opt.Labeler.LabelNode(ctx, mj.NodeID, map[string]string{"hoist.machine": name, "hoist.pool": p.opt.Pool}); err != nil {
				return fmt.Errorf("create %s: label node %s: %w", name, mj.NodeID, err)
			}
		}
		m = p.machine(mj)
		p.log.Info("machine created", "machine", name, "took", r.took.Round(time.Millisecond), "detail", mj.Detail)
		return nil
	})
	return m, err
}

// Destroy implements engine.Provider.
func (p *Provider) Destroy(ctx context.Context, name string) error {
	defer p.locks.Lock(name)()
	return p.retry(ctx, "destroy "+name, func() error {
		_, err := p.exec(ctx, "destroy", p.opt.Destroy, p.opt.Timeout, name, p.opt.Pool)
		return err
	})
}

// List implements engine.Provider. It runs on every tick, so it is never
// retried within a call and never runs twice at once.
func (p *Provider) List(ctx context.Context) ([]cluster.Machine, error) {
	p.mu.Lock()
	if p.listing {
		p.mu.Unlock()
		return nil, fmt.Errorf("list %s: %w", p.opt.Pool, ErrBusy)
	}
	p.listing = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.listing = false
		p.mu.Unlock()
	}()
	r, err := p.exec(ctx, "list", p.opt.List, p.opt.ListTimeout, p.opt.Pool)
	if err != nil {
		return nil, err
	}
	ms, err := parseList(p.opt.Pool, r)
	if err != nil {
		return nil, err
	}
	out := make([]cluster.Machine, 0, len(ms))
	for _, m := range ms {
		out = append(out, p.machine(m))
	}
	return out, nil
}

// parseCreated reads what the create script printed for machine name: one
// JSON machine object, that machine.
func parseCreated(name string, r result) (machineJSON, error) {
	var mj machineJSON
	if err := strictJSON(r.stdout, &mj); err != nil {
		return mj, r.errorf(ErrContract, "create %s: stdout must be one JSON machine object: %v", name, err)
	}
	if err := mj.check(); err != nil {
		return mj, r.errorf(ErrContract, "create %s: %v", name, err)
	}
	if mj.Name != name {
		return mj, r.errorf(ErrContract, "create %s: the script made %s", name, clipQ(mj.Name))
	}
	if mj.Detail == "" {
		mj.Detail = tailLines(r.stderr, 3)
	}
	return mj, nil
}

// parseList reads what the list script printed: a JSON array of machines.
func parseList(pool string, r result) ([]machineJSON, error) {
	var ms []machineJSON
	if err := strictJSON(r.stdout, &ms); err != nil {
		return nil, r.errorf(ErrContract, "list %s: stdout must be a JSON array of machines: %v", pool, err)
	}
	seen := make(map[string]bool, len(ms))
	for i, m := range ms {
		if err := m.check(); err != nil {
			return nil, r.errorf(ErrContract, "list %s: machine %d: %v", pool, i, err)
		}
		if seen[m.Name] {
			return nil, r.errorf(ErrContract, "list %s: machine %s listed twice", pool, clipQ(m.Name))
		}
		seen[m.Name] = true
	}
	return ms, nil
}

// strictJSON decodes exactly one JSON value (an empty output is an error).
func strictJSON(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return errors.New("empty output")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}
