package lease

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/clock"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	testLease = 15 * time.Second
	testRenew = 2 * time.Second
)

func newElector(t *testing.T, s Store, id string, c clock.Clock, changes *[]Change) *Elector {
	t.Helper()
	e, err := New(s, Options{ID: id, Lease: testLease, Renew: testRenew, Clock: c, OnChange: func(ch Change) {
		if changes != nil {
			*changes = append(*changes, ch)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{}, "empty ID"},
		{Options{ID: "a", Lease: 10 * time.Second, Deadline: 10 * time.Second}, "shorter than the lease"},
		{Options{ID: "a", Lease: 15 * time.Second, Renew: 6 * time.Second}, "at most half"},
		{Options{ID: "a", Lease: -time.Second}, "must be > 0"},
	} {
		err := tc.o.Validate()
		if err == nil || !contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.o, err, tc.want)
		}
	}
	o := Options{ID: "a"}
	if err := o.Validate(); err != nil || o.Lease != DefaultLease || o.Renew != DefaultRenew || o.Deadline != 10*time.Second {
		t.Errorf("defaults: %+v %v", o, err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestOneAcquiresTheOtherWaits(t *testing.T) {
	ctx := context.Background()
	c := clock.NewVirtual(t0)
	m := &Memory{}
	var ca, cb []Change
	a, b := newElector(t, m, "a", c, &ca), newElector(t, m, "b", c, &cb)
	a.Step(ctx)
	b.Step(ctx)
	if !a.Leading() || b.Leading() {
		t.Fatalf("a leading %v, b leading %v", a.Leading(), b.Leading())
	}
	if s := b.Status(); s.Leader != "a" || s.Epoch != 1 {
		t.Errorf("b sees %+v", s)
	}
	if len(ca) != 1 || ca[0].Kind != Acquired || ca[0].Epoch != 1 || len(cb) != 0 {
		t.Errorf("changes a %v b %v", ca, cb)
	}
	if tok, err := a.Token(time.Second); err != nil || tok != 1 {
		t.Errorf("a token %d %v", tok, err)
	}
	if _, err := b.Token(0); !errors.Is(err, ErrNotLeader) {
		t.Errorf("b token err %v", err)
	}
	// a renews on time for a minute: b never takes over.
	for i := 0; i < 30; i++ {
		c.Advance(testRenew)
		a.Step(ctx)
		b.Step(ctx)
		if !a.Leading() || b.Leading() {
			t.Fatalf("after %s: a %v b %v", c.Now().Sub(t0), a.Leading(), b.Leading())
		}
	}
	// Too little lease left for a long call.
	if _, err := a.Token(testLease); !errors.Is(err, ErrNotLeader) {
		t.Errorf("token with more than the deadline left: %v", err)
	}
}

// TestTakeoverWindow: whatever the standby's phase against the leader's
// renewals, it takes over between Lease and Lease+Renew after the last
// renewal, and the dead leader had stopped acting before.
func TestTakeoverWindow(t *testing.T) {
	ctx := context.Background()
	for phase := time.Duration(0); phase < testRenew; phase += 250 * time.Millisecond {
		t.Run(phase.String(), func(t *testing.T) {
			c := clock.NewVirtual(t0)
			m := &Memory{}
			a, b := newElector(t, m, "a", c, nil), newElector(t, m, "b", c, nil)
			nextA, nextB := t0, t0.Add(phase)
			var lastRenewal, took time.Time
			dead := t0.Add(20 * time.Second)
			for now := t0; now.Before(t0.Add(time.Minute)) && took.IsZero(); now = now.Add(time.Millisecond) {
				c.Set(now)
				if !now.Before(nextA) && now.Before(dead) {
					nextA = now.Add(a.Step(ctx))
					lastRenewal = now
				}
				if !now.Before(nextB) {
					nextB = now.Add(b.Step(ctx))
					if b.Leading() {
						took = now
					}
				}
				if a.Leading() && b.Leading() {
					t.Fatalf("two leaders at %s", now.Sub(t0))
				}
			}
			gap := took.Sub(lastRenewal)
			if took.IsZero() || gap < testLease || gap > testLease+testRenew {
				t.Fatalf("took over %s after the last renewal, want in [%s, %s]", gap, testLease, testLease+testRenew)
			}
			if s := b.Status(); s.Epoch != 2 || s.Leader != "b" {
				t.Errorf("b status %+v", s)
			}
		})
	}
}

// failing is a store that fails while down.
type failing struct {
	Store
	down bool
}

var errDown = errors.New("partitioned")

func (f *failing) Get(ctx context.Context) (Record, uint64, error) {
	if f.down {
		return Record{}, 0, errDown
	}
	return f.Store.Get(ctx)
}

func (f *failing) Put(ctx context.Context, r Record, v uint64) (uint64, error) {
	if f.down {
		return 0, errDown
	}
	return f.Store.Put(ctx, r, v)
}

func TestStepDownWhenRenewalsFail(t *testing.T) {
	ctx := context.Background()
	c := clock.NewVirtual(t0)
	f := &failing{Store: &Memory{}}
	var changes []Change
	a := newElector(t, f, "a", c, &changes)
	a.Step(ctx)
	f.down = true
	var steppedAt time.Duration
	next := t0
	for now := t0; now.Before(t0.Add(30 * time.Second)); now = now.Add(10 * time.Millisecond) {
		c.Set(now)
		if !now.Before(next) {
			next = now.Add(a.Step(ctx))
		}
		if !a.Leading() && steppedAt == 0 {
			steppedAt = now.Sub(t0)
		}
	}
	if want := testLease * 2 / 3; steppedAt != want {
		t.Errorf("stopped acting %s after the last renewal, want the deadline %s", steppedAt, want)
	}
	if len(changes) != 2 || changes[1].Kind != SteppedDown || !contains(changes[1].Reason, "lease not renewed within 10s") {
		t.Fatalf("changes %+v", changes)
	}
	// Back online: the record is still its own, unchanged; it waits the
	// lease like any standby, then takes epoch 2.
	f.down = false
	a.Step(ctx)
	if !a.Leading() || a.Status().Epoch != 2 {
		t.Errorf("after the partition: %+v", a.Status())
	}
}

func TestLostWhenAnotherTookOver(t *testing.T) {
	ctx := context.Background()
	c := clock.NewVirtual(t0)
	m := &Memory{}
	var changes []Change
	a := newElector(t, m, "a", c, &changes)
	a.Step(ctx)
	_, v, _ := m.Get(ctx)
	if _, err := m.Put(ctx, Record{Holder: "b", Epoch: 2}, v); err != nil {
		t.Fatal(err)
	}
	c.Advance(testRenew)
	a.Step(ctx)
	if a.Leading() || len(changes) != 2 || changes[1].Kind != Lost || changes[1].Epoch != 1 {
		t.Fatalf("leading %v changes %+v", a.Leading(), changes)
	}
	if s := a.Status(); s.Leader != "b" && s.Epoch != 2 {
		t.Logf("status after loss %+v (refreshed on the next step)", s)
	}
	a.Step(ctx)
	if s := a.Status(); s.Leader != "b" || s.Epoch != 2 {
		t.Errorf("status %+v", s)
	}
}

func TestReleaseHandsOverAtOnce(t *testing.T) {
	ctx := context.Background()
	c := clock.NewVirtual(t0)
	m := &Memory{}
	a, b := newElector(t, m, "a", c, nil), newElector(t, m, "b", c, nil)
	a.Step(ctx)
	b.Step(ctx)
	if err := a.Release(ctx, "shutting down"); err != nil {
		t.Fatal(err)
	}
	if a.Leading() {
		t.Fatal("a still leading after release")
	}
	c.Advance(time.Millisecond)
	b.Step(ctx)
	if !b.Leading() || b.Status().Epoch != 2 {
		t.Fatalf("b after release: %+v", b.Status())
	}
}

// TestRandomizedSafety runs three contenders on clocks running at rates up
// to 1.2x faster or slower than real time, with random pauses (SIGSTOP,
// including between a leader's fencing check and its write), partitions
// from the store and crashes, and checks: never two processes acting as
// leader at once; epochs in the register never go down and grow at every
// change of holder; no write to the fenced object with an older epoch is
// accepted after one with a newer epoch.
func TestRandomizedSafety(t *testing.T) {
	var stale, takeovers, accepted int
	for seed := uint64(1); seed <= 40; seed++ {
		r := runWorld(t, seed)
		stale += r.stale
		takeovers += r.takeovers
		accepted += r.accepted
	}
	t.Logf("%d takeovers, %d fenced writes accepted, %d stale writes refused", takeovers, accepted, stale)
	// The runs must exercise what they check.
	if stale == 0 || takeovers < 40 || accepted == 0 {
		t.Fatalf("the simulation did not exercise the fencing: %d stale refused, %d takeovers", stale, takeovers)
	}
}

type worldResult struct{ stale, takeovers, accepted int }

// world is a discrete simulation in real time; each node has its own clock.
type world struct {
	now time.Time
}

type driftClock struct {
	w    *world
	rate float64
}

func (d driftClock) Now() time.Time {
	return t0.Add(time.Duration(float64(d.w.now.Sub(t0)) * d.rate))
}

// recording checks every accepted write of the register.
type recording struct {
	t    *testing.T
	mem  Memory
	last Record
	n    int
}

func (r *recording) Get(ctx context.Context) (Record, uint64, error) { return r.mem.Get(ctx) }
func (r *recording) Put(ctx context.Context, rec Record, v uint64) (uint64, error) {
	nv, err := r.mem.Put(ctx, rec, v)
	if err != nil {
		return nv, err
	}
	if rec.Epoch < r.last.Epoch {
		r.t.Errorf("register epoch went down: %d after %d", rec.Epoch, r.last.Epoch)
	}
	if rec.Holder != "" && rec.Holder != r.last.Holder && rec.Epoch <= r.last.Epoch {
		r.t.Errorf("holder %s took over with epoch %d, not above %d", rec.Holder, rec.Epoch, r.last.Epoch)
	}
	r.last = rec
	r.n++
	return nv, nil
}

// object is a resource hoist writes under fencing, with a version index.
type object struct {
	epoch, version uint64
}

type node struct {
	e              *Elector
	clk            driftClock
	store          *failing
	next           time.Time
	pausedUntil    time.Time
	partitionUntil time.Time
	dead           bool
	// A write read before a pause and sent after it.
	pending  bool
	tok, ver uint64
}

func runWorld(t *testing.T, seed uint64) worldResult {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 42))
	w := &world{now: t0}
	reg := &recording{t: t}
	var obj object
	var lastAccepted uint64
	var res worldResult
	var nodes []*node
	for i := 0; i < 3; i++ {
		rate := 1 / 1.2
		switch {
		case i == 1:
			rate = 1.2
		case i == 2:
			rate = 1/1.2 + rng.Float64()*(1.2-1/1.2)
		}
		n := &node{clk: driftClock{w: w, rate: rate}, next: t0.Add(time.Duration(rng.IntN(2000)) * time.Millisecond)}
		n.store = &failing{Store: reg}
		n.e = newElector(t, n.store, fmt.Sprintf("n%d", i), n.clk, nil)
		n.e.opt.OnChange = func(c Change) {
			if c.Kind == Acquired {
				res.takeovers++
			}
		}
		nodes = append(nodes, n)
	}
	// A fenced write is a read (version and epoch), the check, then a
	// compare-and-swap on the version read; a pause may fall between the
	// check and the swap.
	read := func(n *node) bool {
		n.ver = obj.version
		if err := Check(obj.epoch, n.tok); err != nil {
			res.stale++
			return false
		}
		return true
	}
	swap := func(n *node) {
		for obj.version != n.ver { // conflict: read again
			if !read(n) {
				return
			}
		}
		if n.tok < lastAccepted {
			t.Fatalf("seed %d: write of epoch %d accepted after epoch %d", seed, n.tok, lastAccepted)
		}
		lastAccepted = n.tok
		obj.epoch, obj.version = n.tok, obj.version+1
		res.accepted++
	}
	const step = 10 * time.Millisecond
	end := t0.Add(10 * time.Minute)
	for ; w.now.Before(end); w.now = w.now.Add(step) {
		leaders := 0
		for i, n := range nodes {
			if n.dead {
				if rng.IntN(20000) == 0 {
					n.dead = false // restarted: a new process, same state
					n.e = newElector(t, n.store, fmt.Sprintf("n%d-again", i), n.clk, nil)
					n.e.opt.OnChange = func(c Change) {
						if c.Kind == Acquired {
							res.takeovers++
						}
					}
					n.next = w.now
				}
				continue
			}
			n.store.down = w.now.Before(n.partitionUntil)
			if w.now.Before(n.pausedUntil) {
				if n.e.Leading() {
					leaders++
				}
				continue
			}
			if n.pending {
				n.pending = false
				swap(n)
			}
			switch x := rng.IntN(10000); {
			case x < 3:
				n.pausedUntil = w.now.Add(time.Duration(rng.Int64N(int64(3 * testLease))))
			case x < 6:
				n.partitionUntil = w.now.Add(time.Duration(rng.Int64N(int64(2 * testLease))))
			case x < 7:
				n.dead = true
				continue
			}
			if !w.now.Before(n.next) {
				wait := n.e.Step(ctx)
				n.next = w.now.Add(time.Duration(float64(wait) / n.clk.rate))
			}
			if tok, err := n.e.Token(0); err == nil && rng.IntN(50) == 0 {
				n.tok = tok
				switch {
				case !read(n): // refused by the object: a deposed leader's write
				case rng.IntN(3) == 0: // paused between the check and the write
					n.pending = true
					n.pausedUntil = w.now.Add(time.Duration(rng.Int64N(int64(3 * testLease))))
				default:
					swap(n)
				}
			}
			if n.e.Leading() {
				leaders++
			}
		}
		if leaders > 1 {
			t.Fatalf("seed %d: %d leaders at %s", seed, leaders, w.now.Sub(t0))
		}
	}
	return res
}
