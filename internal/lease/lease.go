// Package lease elects one leader among several hoist processes over a
// compare-and-swap register (in production a Swarm object's version index,
// internal/swarm's LeaseStore): no etcd, no second Raft.
//
// The record holds the leader's identity and its epoch. The leader renews it
// every Renew; it stays leader only while its last renewal started less than
// Deadline ago on its own monotonic clock, and steps down otherwise. A standby
// takes over when the record has not changed for Lease on its own clock, with
// a compare-and-swap on the version it last saw, and the next epoch. Deadline
// is shorter than Lease so that clocks running at different rates (up to
// Lease/Deadline apart) never see two leaders; the epoch is the fencing token
// that makes a paused leader's late writes harmless (Token).
package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hoist/hoist/internal/clock"
)

// Defaults, documented in docs/ha.md.
const (
	DefaultLease = 15 * time.Second
	DefaultRenew = 2 * time.Second
)

// Record is what the register holds.
type Record struct {
	// Holder is the leader's identity; "" when the lease was released.
	Holder string
	// Epoch grows by one at every change of leader (and every re-acquisition).
	Epoch uint64
	// Renewed is the holder's wall clock at its last renewal: for people
	// only, never compared with another clock.
	Renewed time.Time
	// Address is where the holder serves its API ("" if it does not).
	Address string
}

// Errors callers branch on.
var (
	// ErrConflict: the register changed since the version given (Store.Put).
	ErrConflict = errors.New("lease record changed since it was read")
	// ErrNotLeader: this process does not hold a valid lease (Token).
	ErrNotLeader = errors.New("not the leader")
)

// Store is a compare-and-swap register.
type Store interface {
	// Get returns the record and its version; version 0 means no record yet.
	Get(ctx context.Context) (Record, uint64, error)
	// Put writes r if the register is still at version, and returns the new
	// version; an error wrapping ErrConflict otherwise.
	Put(ctx context.Context, r Record, version uint64) (uint64, error)
}

// Change kinds (the events leader.acquired, leader.lost, leader.stepped_down).
const (
	Acquired    = "acquired"
	Lost        = "lost"
	SteppedDown = "stepped_down"
)

// Change is a change of this process's leadership.
type Change struct {
	Kind   string // Acquired, Lost or SteppedDown
	Epoch  uint64
	Reason string
}

// Options configure an Elector.
type Options struct {
	// ID names this process; unique among the contenders.
	ID string
	// Address is written in the record so standbys can send writes there.
	Address string
	// Lease is how long a record may stay unchanged before a standby takes
	// over (default DefaultLease).
	Lease time.Duration
	// Renew is how often the leader renews and a standby looks (default
	// DefaultRenew).
	Renew time.Duration
	// Deadline is how long after the start of its last renewal the leader
	// stops acting (default 2/3 of Lease: safe for clock rates 1.5x apart).
	Deadline time.Duration
	Clock    clock.Clock // default the wall clock (monotonic)
	Logger   *slog.Logger
	// OnChange hears every change of leadership, synchronously, in order.
	OnChange func(Change)
}

// Validate fills the defaults and checks the durations hold together.
func (o *Options) Validate() error {
	if o.ID == "" {
		return errors.New("lease: empty ID")
	}
	if o.Lease == 0 {
		o.Lease = DefaultLease
	}
	if o.Renew == 0 {
		o.Renew = DefaultRenew
	}
	if o.Deadline == 0 {
		o.Deadline = o.Lease * 2 / 3
	}
	switch {
	case o.Lease < 0 || o.Renew < 0 || o.Deadline < 0:
		return errors.New("lease: durations must be > 0")
	case o.Deadline >= o.Lease:
		return fmt.Errorf("lease: deadline %s must be shorter than the lease %s", o.Deadline, o.Lease)
	case o.Renew*2 > o.Deadline:
		return fmt.Errorf("lease: renew interval %s must be at most half the deadline %s (2/3 of the lease), so one failed renewal is survived", o.Renew, o.Deadline)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Elector takes part in the election. Step is one round; Run calls it on a
// timer. Safe for concurrent use.
type Elector struct {
	store Store
	opt   Options

	mu       sync.Mutex
	known    bool      // a record was read at least once
	rec      Record    // the record as last read or written
	version  uint64    // its version
	seenAt   time.Time // own clock: when rec last changed (read or written)
	leading  bool
	epoch    uint64    // epoch held while leading
	validTil time.Time // own clock: leading until then unless renewed
}

// New returns an elector over store.
func New(store Store, opt Options) (*Elector, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	return &Elector{store: store, opt: opt}, nil
}

// Options returns the options with their defaults.
func (e *Elector) Options() Options { return e.opt }

// Status is what the elector knows.
type Status struct {
	Leading bool
	ID      string
	// Leader, Epoch and Address are from the record as last seen.
	Leader  string
	Epoch   uint64
	Address string
	// Remaining is how long this process may still act (0 unless leading).
	Remaining time.Duration
}

// Status reports the leadership as of now.
func (e *Elector) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.opt.Clock.Now()
	s := Status{ID: e.opt.ID, Leader: e.rec.Holder, Epoch: e.rec.Epoch, Address: e.rec.Address}
	if e.leading && now.Before(e.validTil) {
		s.Leading, s.Remaining = true, e.validTil.Sub(now)
	}
	return s
}

// Leading reports whether this process holds a valid lease now.
func (e *Elector) Leading() bool { return e.Status().Leading }

// Token returns the epoch to fence a write with, if this process holds a
// lease with at least min left; an error wrapping ErrNotLeader otherwise.
func (e *Elector) Token(min time.Duration) (uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.opt.Clock.Now()
	if !e.leading {
		return 0, ErrNotLeader
	}
	if left := e.validTil.Sub(now); left < min || left <= 0 {
		return 0, fmt.Errorf("%w: %s of lease left, %s needed", ErrNotLeader, max(left, 0), min)
	}
	return e.epoch, nil
}

// Step runs one round: the leader renews (or steps down), a standby looks at
// the record and takes over when it has not changed for Lease. It returns
// how long to wait before the next round, on this process's clock.
func (e *Elector) Step(ctx context.Context) time.Duration {
	e.mu.Lock()
	leading := e.leading
	e.mu.Unlock()
	if leading {
		return e.renew(ctx)
	}
	return e.watch(ctx)
}

func (e *Elector) renew(ctx context.Context) time.Duration {
	e.mu.Lock()
	start := e.opt.Clock.Now()
	if !start.Before(e.validTil) {
		e.stepDownLocked(SteppedDown, fmt.Sprintf("lease not renewed within %s", e.opt.Deadline))
		e.mu.Unlock()
		return 0
	}
	rec := Record{Holder: e.opt.ID, Epoch: e.epoch, Renewed: wall(start), Address: e.opt.Address}
	version := e.version
	e.mu.Unlock()

	// The deadline counts from before the write: the register may have
	// taken it at any moment after start. A write still hanging at the
	// deadline is given up.
	pctx, cancel := context.WithTimeout(ctx, e.validTil.Sub(start))
	v, err := e.store.Put(pctx, rec, version)
	cancel()

	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.leading || e.epoch != rec.Epoch {
		return e.opt.Renew // Release ran meanwhile
	}
	switch {
	case err == nil:
		e.rec, e.version, e.seenAt, e.validTil = rec, v, start, start.Add(e.opt.Deadline)
		return e.opt.Renew
	case errors.Is(err, ErrConflict):
		e.stepDownLocked(Lost, "the lease record changed under this leader (another hoist took over)")
		return 0
	default:
		now := e.opt.Clock.Now()
		if !now.Before(e.validTil) {
			e.stepDownLocked(SteppedDown, fmt.Sprintf("lease not renewed within %s: %v", e.opt.Deadline, err))
			return 0
		}
		e.opt.Logger.Warn("lease renewal failed; retrying", "err", err, "left", e.validTil.Sub(now))
		// Retry sooner than a full interval, but wake at the deadline at the latest.
		return min(e.opt.Renew/2, e.validTil.Sub(now))
	}
}

func (e *Elector) watch(ctx context.Context) time.Duration {
	gctx, cancel := context.WithTimeout(ctx, e.opt.Renew)
	rec, v, err := e.store.Get(gctx)
	cancel()
	e.mu.Lock()
	now := e.opt.Clock.Now()
	if err != nil {
		e.mu.Unlock()
		e.opt.Logger.Debug("reading the lease failed", "err", err)
		return e.opt.Renew
	}
	if !e.known || v != e.version {
		e.known, e.rec, e.version, e.seenAt = true, rec, v, now
	}
	free := v == 0 || rec.Holder == ""
	idle := now.Sub(e.seenAt)
	if !free && idle < e.opt.Lease {
		e.mu.Unlock()
		// Look again at the renewal interval, or exactly when the lease
		// would run out, whichever is sooner.
		return min(e.opt.Renew, e.opt.Lease-idle)
	}
	reason := "no leader"
	if !free {
		reason = fmt.Sprintf("lease of %s (epoch %d) not renewed for %s", rec.Holder, rec.Epoch, idle.Round(time.Millisecond))
	}
	next := Record{Holder: e.opt.ID, Epoch: rec.Epoch + 1, Renewed: wall(now), Address: e.opt.Address}
	e.mu.Unlock()

	pctx, cancel := context.WithTimeout(ctx, e.opt.Deadline)
	nv, err := e.store.Put(pctx, next, v)
	cancel()

	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.opt.Logger.Debug("taking the lease failed", "err", err)
		return e.opt.Renew
	}
	e.rec, e.version, e.seenAt = next, nv, now
	e.leading, e.epoch, e.validTil = true, next.Epoch, now.Add(e.opt.Deadline)
	e.notify(Change{Kind: Acquired, Epoch: next.Epoch, Reason: reason})
	return e.opt.Renew
}

// stepDownLocked ends this process's leadership.
func (e *Elector) stepDownLocked(kind, reason string) {
	if !e.leading {
		return
	}
	e.leading = false
	// Count the standby's wait from now: the record may still be ours.
	e.seenAt = e.opt.Clock.Now()
	e.notify(Change{Kind: kind, Epoch: e.epoch, Reason: reason})
}

func (e *Elector) notify(c Change) {
	e.opt.Logger.Info("leadership", "change", c.Kind, "epoch", c.Epoch, "reason", c.Reason, "id", e.opt.ID)
	if e.opt.OnChange != nil {
		e.opt.OnChange(c)
	}
}

// Release steps down and, if the record is still this leader's, empties it
// so a standby takes over at once (a clean shutdown).
func (e *Elector) Release(ctx context.Context, reason string) error {
	e.mu.Lock()
	if !e.leading {
		e.mu.Unlock()
		return nil
	}
	rec := Record{Epoch: e.epoch, Renewed: wall(e.opt.Clock.Now())}
	version := e.version
	e.stepDownLocked(SteppedDown, reason)
	e.mu.Unlock()
	v, err := e.store.Put(ctx, rec, version)
	if err != nil {
		return fmt.Errorf("release the lease: %w", err)
	}
	e.mu.Lock()
	e.rec, e.version = rec, v
	e.mu.Unlock()
	return nil
}

// Run takes part until ctx ends, then releases the lease if it holds it.
func (e *Elector) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.Background(), e.opt.Renew)
			defer cancel()
			if err := e.Release(rctx, "shutting down"); err != nil {
				e.opt.Logger.Warn("lease", "err", err)
			}
			return nil
		case <-t.C:
		}
		t.Reset(e.Step(ctx))
	}
}

// wall drops the monotonic reading: the record's time is for people.
func wall(t time.Time) time.Time { return t.Round(0).UTC() }

// ErrFenced: the object was last written under a newer epoch than the
// writer's; the writer is a deposed leader and must not write.
var ErrFenced = errors.New("written under a newer epoch (a newer leader)")

// Check is the fencing rule: a writer holding token may write an object
// whose last writer held epoch objEpoch only if objEpoch <= token. Callers
// read the object's epoch and write under a compare-and-swap on the version
// they read, so the check and the write are one step.
func Check(objEpoch, token uint64) error {
	if objEpoch > token {
		return fmt.Errorf("epoch %d < %d: %w", token, objEpoch, ErrFenced)
	}
	return nil
}
