package swarm

// Fencing for `hoist run --ha` (docs/ha.md): every service and node hoist
// writes records the epoch of its writer's lease in the label hoist.epoch,
// and a write is refused when the object already carries a newer epoch. The
// check and the write are one step: the update names the version the check
// read, and Swarm refuses it if the object changed since.

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/moby/moby/client"

	"github.com/hoist/hoist/internal/lease"
)

// LabelEpoch is the epoch of the last hoist leader that wrote a service or node.
const LabelEpoch = "hoist.epoch"

// Fence gives the epoch to write under, or an error when this process may
// not write (*lease.Elector's Token).
type Fence interface {
	Token(min time.Duration) (uint64, error)
}

// writeAPI is the part of the Docker API that fencing guards.
type writeAPI interface {
	ServiceInspect(ctx context.Context, id string, o client.ServiceInspectOptions) (client.ServiceInspectResult, error)
	ServiceCreate(ctx context.Context, o client.ServiceCreateOptions) (client.ServiceCreateResult, error)
	ServiceUpdate(ctx context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error)
	ServiceRemove(ctx context.Context, id string, o client.ServiceRemoveOptions) (client.ServiceRemoveResult, error)
	NodeInspect(ctx context.Context, id string, o client.NodeInspectOptions) (client.NodeInspectResult, error)
	NodeUpdate(ctx context.Context, id string, o client.NodeUpdateOptions) (client.NodeUpdateResult, error)
	NodeRemove(ctx context.Context, id string, o client.NodeRemoveOptions) (client.NodeRemoveResult, error)
}

// Fencer checks and stamps writes. OnFenced, if set, hears every write an
// object refused because a newer leader wrote it (the caller steps down).
type Fencer struct {
	Fence    Fence
	OnFenced func(error)
}

func (f *Fencer) token() (uint64, error) {
	tok, err := f.Fence.Token(0)
	if err != nil {
		return 0, fmt.Errorf("write refused: %w", err)
	}
	return tok, nil
}

// check refuses a write to an object labelled with a newer epoch.
func (f *Fencer) check(what string, labels map[string]string, tok uint64) error {
	v := labels[LabelEpoch]
	if v == "" {
		return nil
	}
	e, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return nil // not ours to judge: a label someone else wrote; ours replaces it
	}
	if err := lease.Check(e, tok); err != nil {
		err = fmt.Errorf("%s: write refused: %w", what, err)
		if f.OnFenced != nil {
			f.OnFenced(err)
		}
		return err
	}
	return nil
}

func stamp(labels map[string]string, tok uint64) map[string]string {
	l := copyMap(labels)
	if l == nil {
		l = map[string]string{}
	}
	l[LabelEpoch] = strconv.FormatUint(tok, 10)
	return l
}

// ServiceCreate stamps the new service.
func (f *Fencer) ServiceCreate(ctx context.Context, api writeAPI, o client.ServiceCreateOptions) (client.ServiceCreateResult, error) {
	tok, err := f.token()
	if err != nil {
		return client.ServiceCreateResult{}, fmt.Errorf("create service %s: %w", o.Spec.Name, err)
	}
	o.Spec.Labels = stamp(o.Spec.Labels, tok)
	return api.ServiceCreate(ctx, o)
}

// ServiceUpdate checks the service at the version the caller read and
// stamps it; a service changed since answers like Swarm does (out of
// sequence), so callers read again and retry.
func (f *Fencer) ServiceUpdate(ctx context.Context, api writeAPI, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error) {
	tok, err := f.token()
	if err != nil {
		return client.ServiceUpdateResult{}, fmt.Errorf("update service %s: %w", id, err)
	}
	cur, err := api.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
	if err != nil {
		return client.ServiceUpdateResult{}, err
	}
	if cur.Service.Version.Index != o.Version.Index {
		return client.ServiceUpdateResult{}, fmt.Errorf("update service %s: %w", id, errStaleVersion)
	}
	if err := f.check("service "+cur.Service.Spec.Name, cur.Service.Spec.Labels, tok); err != nil {
		return client.ServiceUpdateResult{}, err
	}
	o.Spec.Labels = stamp(o.Spec.Labels, tok)
	return api.ServiceUpdate(ctx, id, o)
}

// ServiceRemove checks the service first. Swarm has no versioned removal:
// a newer leader's write between the check and the removal is not seen.
func (f *Fencer) ServiceRemove(ctx context.Context, api writeAPI, id string, o client.ServiceRemoveOptions) (client.ServiceRemoveResult, error) {
	tok, err := f.token()
	if err != nil {
		return client.ServiceRemoveResult{}, fmt.Errorf("remove service %s: %w", id, err)
	}
	cur, err := api.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
	if err != nil {
		return client.ServiceRemoveResult{}, err // not found stays not found
	}
	if err := f.check("service "+cur.Service.Spec.Name, cur.Service.Spec.Labels, tok); err != nil {
		return client.ServiceRemoveResult{}, err
	}
	return api.ServiceRemove(ctx, id, o)
}

// NodeUpdate is ServiceUpdate for nodes.
func (f *Fencer) NodeUpdate(ctx context.Context, api writeAPI, id string, o client.NodeUpdateOptions) (client.NodeUpdateResult, error) {
	tok, err := f.token()
	if err != nil {
		return client.NodeUpdateResult{}, fmt.Errorf("update node %s: %w", id, err)
	}
	cur, err := api.NodeInspect(ctx, id, client.NodeInspectOptions{})
	if err != nil {
		return client.NodeUpdateResult{}, err
	}
	if cur.Node.Version.Index != o.Version.Index {
		return client.NodeUpdateResult{}, fmt.Errorf("update node %s: %w", id, errStaleVersion)
	}
	if err := f.check("node "+id, cur.Node.Spec.Labels, tok); err != nil {
		return client.NodeUpdateResult{}, err
	}
	o.Spec.Labels = stamp(o.Spec.Labels, tok)
	return api.NodeUpdate(ctx, id, o)
}

// NodeRemove is ServiceRemove for nodes.
func (f *Fencer) NodeRemove(ctx context.Context, api writeAPI, id string, o client.NodeRemoveOptions) (client.NodeRemoveResult, error) {
	tok, err := f.token()
	if err != nil {
		return client.NodeRemoveResult{}, fmt.Errorf("remove node %s: %w", id, err)
	}
	cur, err := api.NodeInspect(ctx, id, client.NodeInspectOptions{})
	if err != nil {
		return client.NodeRemoveResult{}, err
	}
	if err := f.check("node "+id, cur.Node.Spec.Labels, tok); err != nil {
		return client.NodeRemoveResult{}, err
	}
	return api.NodeRemove(ctx, id, o)
}

// errStaleVersion reads like Swarm's own refusal, so IsConflict sees it.
var errStaleVersion = fmt.Errorf("update out of sequence")

// FencedClient is the Docker client with every service and node write
// fenced; reads and everything else go straight through.
type FencedClient struct {
	*client.Client
	Fencer *Fencer
}

var _ API = (*FencedClient)(nil)

// ServiceCreate implements API.
func (c *FencedClient) ServiceCreate(ctx context.Context, o client.ServiceCreateOptions) (client.ServiceCreateResult, error) {
	return c.Fencer.ServiceCreate(ctx, c.Client, o)
}

// ServiceUpdate implements API.
func (c *FencedClient) ServiceUpdate(ctx context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error) {
	return c.Fencer.ServiceUpdate(ctx, c.Client, id, o)
}

// ServiceRemove implements API.
func (c *FencedClient) ServiceRemove(ctx context.Context, id string, o client.ServiceRemoveOptions) (client.ServiceRemoveResult, error) {
	return c.Fencer.ServiceRemove(ctx, c.Client, id, o)
}

// NodeUpdate implements API.
func (c *FencedClient) NodeUpdate(ctx context.Context, id string, o client.NodeUpdateOptions) (client.NodeUpdateResult, error) {
	return c.Fencer.NodeUpdate(ctx, c.Client, id, o)
}

// NodeRemove implements API.
func (c *FencedClient) NodeRemove(ctx context.Context, id string, o client.NodeRemoveOptions) (client.NodeRemoveResult, error) {
	return c.Fencer.NodeRemove(ctx, c.Client, id, o)
}
