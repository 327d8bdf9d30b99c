package main

// hoist run --ha (docs/ha.md): several hoist processes, one leader. The
// lease lives in the swarm (internal/lease over internal/swarm's
// LeaseStore); only the leader ticks and writes, every write to Swarm is
// fenced by its epoch, provider calls need enough lease left; the
// registered apps, overrides and manual requests live in the swarm
// (swarm.State) and are read again on takeover; standbys serve reads and
// send writes to the leader.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist/hoist/internal/api"
	"github.com/hoist/hoist/internal/clock"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/collector"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/lease"
	"github.com/hoist/hoist/internal/store"
	"github.com/hoist/hoist/internal/swarm"
	"github.com/hoist/hoist/internal/throttle"
)

// haOptions are hoist run's --ha flags.
type haOptions struct {
	Enabled      bool
	Lease, Renew time.Duration
	// ID names this process in the lease (default host-pid-random).
	ID string
}

// haFeature is a Runtime's part in the election.
type haFeature struct {
	opt      haOptions
	log      *slog.Logger
	cli      *client.Client
	leases   lease.Store
	state    *swarm.State
	machines *resettableStore
	elector  *lease.Elector // set by elect, once the API's address is known
	clock    clock.Clock    // the elector's (nil: the wall clock)

	mu    sync.Mutex
	fresh bool // became the leader: read the cluster's state before the next tick
}

var (
	_ swarm.Fence          = (*haFeature)(nil)
	_ api.Registry         = (*swarm.State)(nil)
	_ engine.Store         = haStore{}
	_ prometheus.Collector = (*haFeature)(nil)
)

// newHA connects to the swarm manager for the lease and the state.
func newHA(opt haOptions, log *slog.Logger) (*haFeature, error) {
	if opt.ID == "" {
		host, _ := os.Hostname()
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		opt.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	lo := lease.Options{ID: opt.ID, Lease: opt.Lease, Renew: opt.Renew}
	if err := lo.Validate(); err != nil {
		return nil, fmt.Errorf("--ha: %w", err)
	}
	opt.Lease, opt.Renew = lo.Lease, lo.Renew
	cli, err := swarm.Dial("")
	if err != nil {
		return nil, err
	}
	h := &haFeature{opt: opt, log: log, cli: cli, machines: newResettableStore()}
	h.leases = swarm.NewLeaseStore(cli, "")
	h.state = swarm.NewState(cli, "", h)
	return h, nil
}

// Token implements swarm.Fence: the epoch while this process leads.
func (h *haFeature) Token(min time.Duration) (uint64, error) {
	if h.elector == nil {
		return 0, lease.ErrNotLeader
	}
	return h.elector.Token(min)
}

// fence is h as a swarm.Fence, nil without --ha.
func (h *haFeature) fence() swarm.Fence {
	if h == nil {
		return nil
	}
	return h
}

// throttles is what the collector tells the agents: the book, and with
// --ha only while leading (a standby's scrapes read the agents and leave
// the leader's limits alone).
func (h *haFeature) throttles(b *throttle.Book) collector.Throttles {
	if h == nil {
		return b
	}
	return leaderThrottles{Book: b, h: h}
}

type leaderThrottles struct {
	*throttle.Book
	h *haFeature
}

var _ collector.Deciding = leaderThrottles{}

func (l leaderThrottles) Deciding() bool { return l.h.elector != nil && l.h.elector.Leading() }

// registry is where the API keeps apps and overrides: the swarm with --ha.
func (h *haFeature) registry() api.Registry {
	if h == nil {
		return nil
	}
	return h.state
}

// engineStore keeps machine records in memory (rebuilt from the provider
// and the nodes after a takeover: the engine adopts what it finds) and the
// manual requests in the swarm; local without --ha.
func (h *haFeature) engineStore(local engine.Store) engine.Store {
	if h == nil {
		return local
	}
	return haStore{machines: h.machines, requests: h.state}
}

// providers wraps each provider so that it is called only with enough
// lease left (half the deadline: a renewal may fail once meanwhile).
func (h *haFeature) providers(ps map[string]engine.Provider) {
	if h == nil {
		return
	}
	min := h.opt.Lease * 2 / 3 / 2
	for pool, p := range ps {
		ps[pool] = fencedProvider{Provider: p, fence: h, min: min}
	}
}

// elect makes the elector; url is where this process serves the API.
func (h *haFeature) elect(url string, rec engine.Recorder) error {
	e, err := lease.New(h.leases, lease.Options{ID: h.opt.ID, Address: url, Lease: h.opt.Lease, Renew: h.opt.Renew,
		Clock: h.clock, Logger: h.log, OnChange: func(c lease.Change) { h.changed(c, rec) }})
	if err != nil {
		return err
	}
	h.elector = e
	return nil
}

func (h *haFeature) changed(c lease.Change, rec engine.Recorder) {
	kind := map[string]events.Kind{lease.Acquired: events.LeaderAcquired, lease.Lost: events.LeaderLost,
		lease.SteppedDown: events.LeaderSteppedDown}[c.Kind]
	rec.Record(events.Event{Time: time.Now(), Kind: kind,
		Reason: fmt.Sprintf("%s (epoch %d, id %s)", c.Reason, c.Epoch, h.opt.ID)})
	if c.Kind == lease.Acquired {
		h.mu.Lock()
		h.fresh = true
		h.mu.Unlock()
	}
}

// run takes part in the election until ctx ends.
func (h *haFeature) run(ctx context.Context) error {
	fmt.Fprintf(os.Stderr, "hoist: --ha as %s (lease %s, renew %s)\n", h.opt.ID, h.opt.Lease, h.opt.Renew)
	return h.elector.Run(ctx)
}

// acting reports whether the loop may tick now: while this process leads
// with lease left on its own clock (Leading: a process resumed after a pause
// past its lease's deadline starts no tick, though its elector has not yet
// run the round that steps it down). The first tick of a new
// leadership starts from the cluster's state: the registry read again, the
// machine records dropped (the engine adopts the machines it finds), the
// engine's memory reset.
func (h *haFeature) acting(ctx context.Context, rt *Runtime) bool {
	if h == nil {
		return true
	}
	if !h.elector.Leading() {
		return false
	}
	h.mu.Lock()
	fresh := h.fresh
	h.mu.Unlock()
	if !fresh {
		return true
	}
	if err := rt.api.Refresh(ctx); err != nil {
		h.log.Warn("new leader: reading the state from the swarm failed; not ticking yet", "err", err)
		return false
	}
	if err := rt.throttles.Reload(ctx, time.Now()); err != nil {
		h.log.Warn("new leader: reading the rate limits from the swarm failed; not ticking yet", "err", err)
		return false
	}
	h.machines.reset()
	rt.Engine.Reset()
	h.mu.Lock()
	h.fresh = false
	h.mu.Unlock()
	return true
}

// standby refreshes the registry now and then, so a standby's reads follow
// the leader's changes.
func (h *haFeature) follow(ctx context.Context, rt *Runtime) error {
	t := time.NewTicker(h.opt.Renew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !h.elector.Leading() {
			if err := rt.api.Refresh(ctx); err != nil {
				h.log.Debug("standby: reading the state from the swarm", "err", err)
			}
			if err := rt.throttles.Reload(ctx, time.Now()); err != nil {
				h.log.Debug("standby: reading the rate limits from the swarm", "err", err)
			}
		}
	}
}

// haHealth is /v1/health's answer with --ha.
type haHealth struct {
	Status string `json:"status"`
	HA     haView `json:"ha"`
}

type haView struct {
	ID        string `json:"id"`
	Leading   bool   `json:"leading"`
	Leader    string `json:"leader"`
	LeaderURL string `json:"leader_url,omitempty"`
	Epoch     uint64 `json:"epoch"`
}

func (h *haFeature) view() haView {
	s := h.elector.Status()
	return haView{ID: s.ID, Leading: s.Leading, Leader: s.Leader, LeaderURL: s.Address, Epoch: s.Epoch}
}

// wrap answers /v1/health with who leads and, on a standby, sends every
// change (any method but GET, HEAD and OPTIONS) to the leader with a 307,
// which keeps the method and body.
func (h *haFeature) wrap(next http.Handler) http.Handler {
	if h == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/health" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(haHealth{Status: "ok", HA: h.view()})
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		v := h.view()
		if v.Leading {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if v.LeaderURL == "" || v.Leader == "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": api.Error{Code: "no_leader",
				Message: "this hoist is a standby and no leader is known yet (or the leader serves no API); retry shortly"}})
			return
		}
		w.Header().Set("Location", strings.TrimSuffix(v.LeaderURL, "/")+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": api.Error{Code: "not_leader",
			Message: fmt.Sprintf("this hoist is a standby; changes go to the leader %s at %s", v.Leader, v.LeaderURL)}})
	})
}

var leaderDesc = prometheus.NewDesc("hoist_leader", "1 while this hoist process leads (hoist run --ha), else 0.", nil, nil)
var epochDesc = prometheus.NewDesc("hoist_leader_epoch", "The lease epoch this hoist process last saw.", nil, nil)

// Describe implements prometheus.Collector.
func (h *haFeature) Describe(ch chan<- *prometheus.Desc) { ch <- leaderDesc; ch <- epochDesc }

// Collect implements prometheus.Collector.
func (h *haFeature) Collect(ch chan<- prometheus.Metric) {
	s := h.elector.Status()
	v := 0.0
	if s.Leading {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(leaderDesc, prometheus.GaugeValue, v)
	ch <- prometheus.MustNewConstMetric(epochDesc, prometheus.GaugeValue, float64(s.Epoch))
}

func (h *haFeature) close() {
	if h != nil && h.cli != nil {
		h.cli.Close()
	}
}

// fencedProvider calls the provider only with enough lease left.
type fencedProvider struct {
	engine.Provider
	fence swarm.Fence
	min   time.Duration
}

func (p fencedProvider) Create(ctx context.Context, name string) (cluster.Machine, error) {
	if _, err := p.fence.Token(p.min); err != nil {
		return cluster.Machine{}, fmt.Errorf("create %s: %w", name, err)
	}
	return p.Provider.Create(ctx, name)
}

func (p fencedProvider) Destroy(ctx context.Context, name string) error {
	if _, err := p.fence.Token(p.min); err != nil {
		return fmt.Errorf("destroy %s: %w", name, err)
	}
	return p.Provider.Destroy(ctx, name)
}

// haStore: machine records in memory, manual requests in the swarm.
type haStore struct {
	machines *resettableStore
	requests *swarm.State
}

func (s haStore) Machines(ctx context.Context) ([]cluster.MachineRecord, error) {
	return s.machines.get().Machines(ctx)
}

func (s haStore) PutMachine(ctx context.Context, r cluster.MachineRecord) error {
	return s.machines.get().PutMachine(ctx, r)
}

func (s haStore) PoolRequests(ctx context.Context) ([]cluster.PoolRequest, error) {
	return s.requests.PoolRequests(ctx)
}

func (s haStore) PutPoolRequest(ctx context.Context, r cluster.PoolRequest) error {
	return s.requests.PutPoolRequest(ctx, r)
}

func (s haStore) DeletePoolRequest(ctx context.Context, pool string, seq uint64) error {
	return s.requests.DeletePoolRequest(ctx, pool, seq)
}

// resettableStore is an in-memory store emptied at each takeover.
type resettableStore struct {
	mu  sync.Mutex
	mem *store.Memory
}

func newResettableStore() *resettableStore { return &resettableStore{mem: store.NewMemory()} }

func (r *resettableStore) get() *store.Memory {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mem
}

func (r *resettableStore) reset() {
	r.mu.Lock()
	r.mem = store.NewMemory()
	r.mu.Unlock()
}

// errHASim: --ha needs a real swarm.
var errHASim = errors.New("--ha needs Docker Swarm pools: the lease lives in the swarm (a simulated cluster has one process)")
