// Package conformance holds the provider conformance suite: one test,
// TestConformance, runs the same checks on every engine.Provider: local
// (real network namespaces and dockerd), command (scripts), openstack and ec2
// (the real SDKs against stateful fakes of the clouds' wire protocols).
package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/metrics"
	"github.com/hoist/hoist/internal/provider/cloudinit"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/store"
)

// subject is one provider under test, over its backend (a cloud fake, a
// scripts' state directory, the host).
type subject struct {
	// newProvider returns a provider of pool over the backend, as a freshly
	// started hoist makes it; it logs to log.
	newProvider func(t *testing.T, pool string, log *slog.Logger) engine.Provider
	// count is how many machines named name the backend holds (the truth,
	// not the provider's view).
	count func(t *testing.T, name string) int
	// made is how many machines the backend ever made.
	made func() int
	// commitThenFail makes the backend's next create commit the machine and
	// then answer with an error (a 500; a script's exit 1).
	commitThenFail func(t *testing.T)
	// joinScript is what the machine boots with (the decoded user data), or
	// "" if the provider joins it another way (checkJoined then).
	joinScript  func(t *testing.T, name string) string
	checkJoined func(t *testing.T, p engine.Provider, name string)
	// addForeign puts a machine at the backend that is not the pool's.
	addForeign func(t *testing.T, name string)
	// secrets must appear in no log, event, metric or data file.
	secrets []string
	// extra runs the provider's own checks (its cloud's faults).
	extra func(t *testing.T, logs *syncBuffer)
	// settle, if set, waits until the provider has no work of its own in
	// flight (a creation it finishes in the background). The restart
	// scenario's simulated clock runs far ahead of real time; a hoist killed
	// between ticks leaves no goroutine behind, so the next life's provider
	// must not race the previous one's on the same machine.
	settle func(t *testing.T, p engine.Provider)
}

// joinAddr and joinToken are what the test swarm hands out.
const joinAddr = "10.0.0.1:2377"

var joinToken = "SWMTKN-1-" + randHex(25) + "-" + randHex(12)

type joiner struct{}

func (joiner) JoinInfo(context.Context) (string, string, error) { return joinAddr, joinToken, nil }

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestConformance(t *testing.T) {
	subjects := map[string]func(t *testing.T) *subject{
		"local":     localSubject,
		"command":   commandSubject,
		"openstack": openstackSubject,
		"ec2":       ec2Subject,
	}
	for _, name := range []string{"local", "command", "openstack", "ec2"} {
		t.Run(name, func(t *testing.T) {
			s := subjects[name](t)
			run(t, s)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func run(t *testing.T, s *subject) {
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := s.newProvider(t, "workers", log)
	ctx := ctxT(t)

	t.Run("create twice gives one machine", func(t *testing.T) {
		a, err := p.Create(ctx, "workers-twice")
		if err != nil {
			t.Fatal(err)
		}
		b, err := p.Create(ctx, "workers-twice")
		if err != nil {
			t.Fatal(err)
		}
		if a.Name != "workers-twice" || a.Pool != "workers" || a.ID == "" || a.ID != b.ID {
			t.Errorf("create, create again = %+v, %+v: want one machine, named, with an ID", a, b)
		}
		if n := s.count(t, "workers-twice"); n != 1 {
			t.Errorf("the backend holds %d machines of the name, want 1", n)
		}
		// A new process (a restarted hoist) asks again: still the same one.
		again, err := s.newProvider(t, "workers", log).Create(ctx, "workers-twice")
		if err != nil || again.ID != a.ID || s.count(t, "workers-twice") != 1 {
			t.Errorf("create from a new provider = %+v, %v; %d machines", again, err, s.count(t, "workers-twice"))
		}
	})

	t.Run("a create committed but answered with an error, retried, is the same machine", func(t *testing.T) {
		before := s.made()
		s.commitThenFail(t)
		first, ferr := p.Create(ctx, "workers-committed")
		// The provider may see through the error itself (look up after a
		// failed create, SDK retries with the same token); if it says it
		// failed, the engine asks again under the same name.
		second, err := p.Create(ctx, "workers-committed")
		if err != nil {
			t.Fatal(err)
		}
		if ferr == nil && first.ID != second.ID {
			t.Errorf("first %+v, retry %+v: two machines", first, second)
		}
		if n := s.count(t, "workers-committed"); n != 1 {
			t.Errorf("the backend holds %d machines of the name, want 1", n)
		}
		if made := s.made() - before; made != 1 {
			t.Errorf("the backend made %d machines, want 1", made)
		}
		t.Logf("first answer: %+v, %v", first, ferr)
	})

	t.Run("ten concurrent creates of one name give one machine", func(t *testing.T) {
		before := s.made()
		var wg sync.WaitGroup
		ids := make([]string, 10)
		errs := make([]error, 10)
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m, err := p.Create(ctx, "workers-race")
				ids[i], errs[i] = m.ID, err
			}()
		}
		wg.Wait()
		for i := range 10 {
			if errs[i] != nil {
				t.Errorf("create %d: %v", i, errs[i])
			} else if ids[i] != ids[0] {
				t.Errorf("create %d gave %s, create 0 %s", i, ids[i], ids[0])
			}
		}
		if n := s.count(t, "workers-race"); n != 1 {
			t.Errorf("the backend holds %d machines of the name, want 1", n)
		}
		if made := s.made() - before; made != 1 {
			t.Errorf("the backend made %d machines, want 1", made)
		}
	})

	t.Run("the user data holds the join command and the labels", func(t *testing.T) {
		if s.joinScript == nil {
			s.checkJoined(t, p, "workers-twice")
			return
		}
		ud := s.joinScript(t, "workers-twice")
		for _, want := range []string{
			"docker swarm join --token '" + joinToken + "' '" + joinAddr + "'",
			`"hoist.pool=workers"`, `"hoist.machine=workers-twice"`, "/etc/docker/daemon.json",
		} {
			if !strings.Contains(ud, want) {
				t.Errorf("user data lacks %s:\n%s", want, ud)
			}
		}
		if !strings.HasPrefix(ud, "#!/bin/sh\n") {
			t.Errorf("user data is not a script cloud-init runs:\n%s", ud)
		}
	})

	t.Run("list sees exactly the pool's machines", func(t *testing.T) {
		other := s.newProvider(t, "others", log)
		if _, err := other.Create(ctx, "others-one"); err != nil {
			t.Fatal(err)
		}
		s.addForeign(t, "workers-by-hand")
		ms, err := p.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, m := range ms {
			if got[m.Name] {
				t.Errorf("%s listed twice", m.Name)
			}
			got[m.Name] = true
			if m.Pool != "workers" || (m.Status != cluster.MachineCreating && m.Status != cluster.MachineRunning) {
				t.Errorf("listed %+v", m)
			}
		}
		want := []string{"workers-committed", "workers-race", "workers-twice"}
		if len(got) != len(want) {
			t.Errorf("list = %v, want %v", got, want)
		}
		for _, n := range want {
			if !got[n] {
				t.Errorf("list lacks %s: %v", n, got)
			}
		}
		oms, err := other.List(ctx)
		if err != nil || len(oms) != 1 || oms[0].Name != "others-one" {
			t.Errorf("other pool's list = %+v, %v", oms, err)
		}
		if err := other.Destroy(ctx, "others-one"); err != nil {
			t.Error(err)
		}
	})

	t.Run("destroy of a missing machine and destroy twice succeed", func(t *testing.T) {
		if err := p.Destroy(ctx, "workers-never-made"); err != nil {
			t.Errorf("destroy of a missing machine: %v", err)
		}
		for _, name := range []string{"workers-twice", "workers-committed", "workers-race"} {
			for i := range 2 {
				if err := p.Destroy(ctx, name); err != nil {
					t.Errorf("destroy %s (%d): %v", name, i+1, err)
				}
			}
			if n := s.count(t, name); n != 0 {
				t.Errorf("%d machines named %s left", n, name)
			}
		}
		ms, err := p.List(ctx)
		if err != nil || len(ms) != 0 {
			t.Errorf("list after destroying all = %+v, %v", ms, err)
		}
	})

	if s.extra != nil {
		s.extra(t, logs)
	}

	t.Run("kill and restart orders no machine twice", func(t *testing.T) {
		restartScenario(t, s, log, logs)
	})

	t.Run("no secret in logs", func(t *testing.T) {
		checkSecrets(t, s, "logs", logs.String())
	})
}

// checkSecrets fails if text holds a secret, raw or inside base64.
func checkSecrets(t *testing.T, s *subject, where, text string) {
	t.Helper()
	secrets := append([]string{joinToken}, s.secrets...)
	if red := cloudinit.Redact(text, secrets...); red != text {
		i := 0
		for i < len(red) && i < len(text) && red[i] == text[i] {
			i++
		}
		t.Errorf("a secret is in the %s, near: %q", where, text[max(0, i-80):min(len(text), i+80)])
	}
}

// scenario: load steps up at 2m, so the pool of 2-CPU machines grows from 1
// to 4; it falls at 12m and the pool shrinks back to 1.
const scenario = `
controller: {interval: 10s}
sim: {container_start: 2s}
pools:
  - name: workers
    min: 1
    max: 5
    machine: {cpus: 2, memory: 4GiB}
    boot_time: 40s
    cooldown: 2m
    scale_down: {below: 0.5, for: 2m}
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    resources:
      limits: {cpus: 1, memory: 512MiB}
      reservations: {cpus: 1, memory: 512MiB}
    replicas: {min: 2, max: 8}
    policies:
      - type: target
        metric: rps
        target: 30
        window: 10s
        scale_up: {max_percent: 1000, period: 15s}
        scale_down: {stabilization: 1m, max_percent: 100, period: 15s}
    load:
      cpu_per_request: 20ms
      pattern: {shape: step, base: 20, peak: 280, at: 2m, duration: 10m}
`

// joined puts the provider under test beneath the simulated swarm: a machine
// the provider has becomes a simulated node (it boots and joins), one it no
// longer has goes. It "crashes" hoist around Create as the engine's restart
// test does: before the call, or after the provider made the machine.
type joined struct {
	engine.Provider
	sim        *sim.Provider
	initial    map[string]bool // the simulator's own machines, not the provider's
	mu         sync.Mutex
	failBefore int
	failAfter  int
}

var errCrash = errors.New("hoist died here")

func (j *joined) Create(ctx context.Context, name string) (cluster.Machine, error) {
	j.mu.Lock()
	before := j.failBefore > 0
	if before {
		j.failBefore--
	}
	j.mu.Unlock()
	if before {
		return cluster.Machine{}, errCrash
	}
	m, err := j.Provider.Create(ctx, name)
	if err == nil {
		j.sim.Create(ctx, name)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failAfter > 0 {
		j.failAfter--
		return cluster.Machine{}, errCrash
	}
	return m, err
}

func (j *joined) Destroy(ctx context.Context, name string) error {
	if err := j.Provider.Destroy(ctx, name); err != nil {
		return err
	}
	return j.sim.Destroy(ctx, name)
}

func (j *joined) List(ctx context.Context) ([]cluster.Machine, error) {
	ms, err := j.Provider.List(ctx)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, m := range ms {
		have[m.Name] = true
		j.sim.Create(ctx, m.Name) // made, maybe by a create whose answer was lost: it boots
	}
	sms, _ := j.sim.List(ctx)
	for _, m := range sms {
		if !have[m.Name] && !j.initial[m.Name] {
			j.sim.Destroy(ctx, m.Name)
		}
	}
	return ms, nil
}

// tee records events in the data directory and in memory.
type tee struct{ a, b engine.Recorder }

func (t tee) Record(e events.Event) events.Event { return t.b.Record(t.a.Record(e)) }

// restartScenario runs the engine on the provider through a scale-out with
// crashes around its creates and restarts (each a new engine, store handle
// and provider on the same data directory and backend), then a scale-in.
func restartScenario(t *testing.T, s *subject, log *slog.Logger, logs *syncBuffer) {
	cfg, err := config.Parse("scenario.yaml", []byte(scenario))
	if err != nil {
		t.Fatal(err)
	}
	c, err := sim.New(cfg, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	initial := map[string]bool{}
	ims, _ := c.Provider("workers").List(context.Background())
	for _, m := range ims {
		initial[m.Name] = true
	}
	dir := t.TempDir()
	ev := events.NewMemory(10000)
	madeBefore := s.made()
	var x *metrics.Exporter
	life := func(failBefore, failAfter int, d time.Duration, injectCloud bool, done func() bool) *engine.Engine {
		st, err := store.OpenBolt(dir, store.BoltOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		prov := &joined{Provider: s.newProvider(t, "workers", log), sim: c.Provider("workers"), initial: initial, failBefore: failBefore, failAfter: failAfter}
		if injectCloud {
			s.commitThenFail(t)
		}
		e, err := engine.New(cfg, engine.Deps{Orchestrator: c, Providers: map[string]engine.Provider{"workers": prov},
			Metrics: c, Clock: c, Store: st, Events: tee{st, ev}, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		x = metrics.New(e, nil)
		e.AddObserver(x)
		for end := c.Now().Add(d); c.Now().Before(end) && (done == nil || !done()); c.Advance(10 * time.Second) {
			if _, err := e.Tick(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if s.settle != nil {
			s.settle(t, prov.Provider)
		}
		// The life ends as a process does: none of its provider's
		// background work (a resumed creation queued behind the engine's
		// own create of the same machine) outlives it to race the next life.
		if c, ok := prov.Provider.(interface{ Close() }); ok {
			c.Close()
		}
		return e
	}
	ordered := func() []string {
		var out []string
		for _, e := range ev.List(events.Filter{Kinds: []events.Kind{events.MachineOrdered}}) {
			out = append(out, e.Machine)
		}
		return out
	}
	// First life, into the load step: of its creates, one dies before the
	// call, one after the provider made the machine, one is committed by the
	// backend but answered with an error.
	life(1, 1, 2*time.Minute+20*time.Second, true, nil)
	first := ordered()
	if len(first) < 3 {
		t.Fatalf("first life ordered %v, want the initial machine and the scale-out", first)
	}
	// Second life: a new engine and provider on the same data and backend.
	life(0, 0, 4*time.Minute, false, nil)
	names := ordered()
	if len(names) != len(first) {
		t.Errorf("after the restart %d machines ordered, before it %d: %v", len(names), len(first), names)
	}
	for _, n := range names {
		if k := s.count(t, n); k != 1 {
			t.Errorf("the backend holds %d machines named %s, want 1", k, n)
		}
	}
	if made := s.made() - madeBefore; made != len(names) {
		t.Errorf("the backend made %d machines for %d names", made, len(names))
	}
	// Third life through the load's fall: back to the pool's min.
	left := func() int {
		n := 0
		for _, name := range ordered() {
			n += s.count(t, name)
		}
		return n
	}
	e := life(0, 0, 14*time.Minute, false, func() bool { return left() == 1 })
	if left() != 1 {
		t.Errorf("%d machines left after the load fell, want the min 1", left())
	}
	if made := s.made() - madeBefore; made != len(ordered()) {
		t.Errorf("the backend made %d machines for %d orders", made, len(ordered()))
	}
	if lost := c.Stats().LostNodes; lost != 0 {
		t.Errorf("%d nodes destroyed with tasks", lost)
		for _, e := range ev.List(events.Filter{KindPrefix: "machine."}) {
			t.Log(e)
		}
	}
	t.Logf("orders %v; %d provider-failure events", ordered(), len(ev.List(events.Filter{Kinds: []events.Kind{events.MachineFailed}})))

	// No secret in the events, /metrics or the data directory.
	var evText strings.Builder
	for _, e := range ev.List(events.Filter{}) {
		fmt.Fprintf(&evText, "%s\n", e)
		fmt.Fprintf(&evText, "%+v\n", e)
	}
	checkSecrets(t, s, "events", evText.String())
	rec := httptest.NewRecorder()
	x.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	checkSecrets(t, s, "metrics", rec.Body.String())
	var data strings.Builder
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			f, _ := os.Open(path)
			io.Copy(&data, f)
			f.Close()
		}
		return nil
	})
	if data.Len() == 0 {
		t.Error("the data directory is empty: nothing was checked")
	}
	checkSecrets(t, s, "data directory", data.String())
	_ = e
}
