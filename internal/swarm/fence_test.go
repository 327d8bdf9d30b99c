package swarm

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/lease"
)

// epochFence is a lease holder frozen at one epoch (a deposed leader that
// does not know it yet, when a newer one exists).
type epochFence struct {
	epoch uint64
	err   error
}

func (f *epochFence) Token(time.Duration) (uint64, error) { return f.epoch, f.err }

// copying hands out copies, as the real client does (the fake shares
// pointers between what it keeps and what it answers).
type copying struct{ *fakeAPI }

func deepCopy[T any](t T) T {
	b, err := json.Marshal(t)
	if err != nil {
		panic(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func (c copying) ServiceInspect(ctx context.Context, id string, o client.ServiceInspectOptions) (client.ServiceInspectResult, error) {
	r, err := c.fakeAPI.ServiceInspect(ctx, id, o)
	return deepCopy(r), err
}

func (c copying) NodeInspect(ctx context.Context, id string, o client.NodeInspectOptions) (client.NodeInspectResult, error) {
	r, err := c.fakeAPI.NodeInspect(ctx, id, o)
	return deepCopy(r), err
}

// fencedFake is the fake Docker API behind a Fencer; beforeUpdate runs
// once, between the caller's read and its write (another leader's write).
type fencedFake struct {
	copying
	f            *Fencer
	beforeUpdate func()
}

func (c *fencedFake) ServiceCreate(ctx context.Context, o client.ServiceCreateOptions) (client.ServiceCreateResult, error) {
	return c.f.ServiceCreate(ctx, c.copying, o)
}

func (c *fencedFake) ServiceUpdate(ctx context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error) {
	if h := c.beforeUpdate; h != nil {
		c.beforeUpdate = nil
		h()
	}
	return c.f.ServiceUpdate(ctx, c.copying, id, o)
}

func (c *fencedFake) ServiceRemove(ctx context.Context, id string, o client.ServiceRemoveOptions) (client.ServiceRemoveResult, error) {
	return c.f.ServiceRemove(ctx, c.copying, id, o)
}

func (c *fencedFake) NodeUpdate(ctx context.Context, id string, o client.NodeUpdateOptions) (client.NodeUpdateResult, error) {
	return c.f.NodeUpdate(ctx, c.copying, id, o)
}

func (c *fencedFake) NodeRemove(ctx context.Context, id string, o client.NodeRemoveOptions) (client.NodeRemoveResult, error) {
	return c.f.NodeRemove(ctx, c.copying, id, o)
}

func fencedPair(fake *fakeAPI) (old, cur *Orchestrator, oldAPI *fencedFake, fenced *[]error) {
	var refused []error
	oldAPI = &fencedFake{copying: copying{fake}, f: &Fencer{Fence: &epochFence{epoch: 1}, OnFenced: func(err error) { refused = append(refused, err) }}}
	curAPI := &fencedFake{copying: copying{fake}, f: &Fencer{Fence: &epochFence{epoch: 2}}}
	return New(oldAPI, Options{}), New(curAPI, Options{}), oldAPI, &refused
}

func replicas(t *testing.T, f *fakeAPI, name string) uint64 {
	t.Helper()
	return *f.services[name].Spec.Mode.Replicated.Replicas
}

func TestFencingRefusesAnOlderEpoch(t *testing.T) {
	ctx := context.Background()
	fake := newFake()
	old, cur, _, refused := fencedPair(fake)
	app := config.App{Name: "web", Image: "nginx"}
	if err := old.Deploy(ctx, app, 2); err != nil {
		t.Fatal(err)
	}
	if got := fake.services["web"].Spec.Labels[LabelEpoch]; got != "1" {
		t.Fatalf("created with epoch label %q", got)
	}
	if err := old.Scale(ctx, "web", 3); err != nil {
		t.Fatalf("epoch 1 on an epoch-1 service: %v", err)
	}
	if err := cur.Scale(ctx, "web", 4); err != nil {
		t.Fatal(err)
	}
	if got := fake.services["web"].Spec.Labels[LabelEpoch]; got != "2" {
		t.Fatalf("after the new leader's write: epoch label %q", got)
	}
	err := old.Scale(ctx, "web", 9)
	if !errors.Is(err, lease.ErrFenced) {
		t.Fatalf("stale scale: %v", err)
	}
	if n := replicas(t, fake, "web"); n != 4 {
		t.Errorf("replicas %d after a refused write, want 4", n)
	}
	if err := old.Deploy(ctx, app, 1); !errors.Is(err, lease.ErrFenced) {
		t.Errorf("stale deploy: %v", err)
	}
	if err := old.Remove(ctx, "web"); !errors.Is(err, lease.ErrFenced) {
		t.Errorf("stale remove: %v", err)
	}
	if _, ok := fake.services["web"]; !ok {
		t.Fatal("a stale removal went through")
	}
	if len(*refused) != 3 {
		t.Errorf("OnFenced heard %d refusals, want 3", len(*refused))
	}
}

// TestFencingRaceBetweenReadAndWrite: the deposed leader read the service,
// then the new leader wrote it; the stale update is refused by the version
// check, read again, and refused by the epoch.
func TestFencingRaceBetweenReadAndWrite(t *testing.T) {
	ctx := context.Background()
	fake := newFake()
	old, cur, oldAPI, _ := fencedPair(fake)
	if err := old.Deploy(ctx, config.App{Name: "web", Image: "nginx"}, 2); err != nil {
		t.Fatal(err)
	}
	oldAPI.beforeUpdate = func() {
		if err := cur.Scale(ctx, "web", 5); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Scale(ctx, "web", 1); !errors.Is(err, lease.ErrFenced) {
		t.Fatalf("stale scale after the race: %v", err)
	}
	if n := replicas(t, fake, "web"); n != 5 {
		t.Errorf("replicas %d, want the new leader's 5", n)
	}
}

func TestFencingNodes(t *testing.T) {
	ctx := context.Background()
	fake := newFake()
	fake.nodes["n1"] = &swarm.Node{ID: "n1", Meta: swarm.Meta{Version: swarm.Version{Index: 1}},
		Spec:   swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityActive},
		Status: swarm.NodeStatus{State: swarm.NodeStateDown}}
	old, cur, _, _ := fencedPair(fake)
	if err := cur.Drain(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if got := fake.nodes["n1"].Spec.Labels[LabelEpoch]; got != "2" {
		t.Fatalf("node epoch label %q", got)
	}
	if err := old.Activate(ctx, "n1"); !errors.Is(err, lease.ErrFenced) {
		t.Errorf("stale activate: %v", err)
	}
	if err := old.RemoveNode(ctx, "n1"); !errors.Is(err, lease.ErrFenced) {
		t.Errorf("stale node removal: %v", err)
	}
	if fake.nodes["n1"].Spec.Availability != swarm.NodeAvailabilityPause {
		t.Error("a stale write changed the node")
	}
}

func TestFencingWithoutLeaseWritesNothing(t *testing.T) {
	ctx := context.Background()
	fake := newFake()
	api := &fencedFake{copying: copying{fake}, f: &Fencer{Fence: &epochFence{err: lease.ErrNotLeader}}}
	o := New(api, Options{})
	if err := o.Deploy(ctx, config.App{Name: "web", Image: "nginx"}, 1); !errors.Is(err, lease.ErrNotLeader) {
		t.Fatalf("deploy without a lease: %v", err)
	}
	if len(fake.services) != 0 {
		t.Error("a service was created without a lease")
	}
}
