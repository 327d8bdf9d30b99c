package swarm

// What a new leader of `hoist run --ha` needs from the old one (docs/ha.md):
// the apps and policy overrides registered through the API and the accepted
// manual pool requests, kept in the labels of a service with no replicas.
// Every change is a read-modify-write named by the version read (a
// compare-and-swap, retried when another change came first), made only
// under a valid lease and stamped with its epoch like any other write.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"go.yaml.in/yaml/v3"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/store"
	"github.com/hoist/hoist/internal/throttle"
)

// StateService is the default name of the service holding the state.
const StateService = "hoist-state"

// Label prefixes of the state service: one label per record.
const (
	stateApp      = "hoist.state.app."
	stateOverride = "hoist.state.override."
	stateRequest  = "hoist.state.request."
	stateThrottle = "hoist.state.throttle."
)

// State keeps registered apps, policy overrides (api.Registry) and manual
// pool requests in a Swarm service's labels.
type State struct {
	api   serviceAPI
	name  string
	fence Fence // nil: no fencing
}

// NewState keeps the state on service name ("" means StateService); writes
// are made only while fence gives a token (nil: always).
func NewState(api serviceAPI, name string, fence Fence) *State {
	if name == "" {
		name = StateService
	}
	return &State{api: api, name: name, fence: fence}
}

// labels reads the state's labels and version (0: no service yet).
func (s *State) labels(ctx context.Context) (map[string]string, swarm.Service, error) {
	res, err := s.api.ServiceInspect(ctx, s.name, client.ServiceInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return map[string]string{}, swarm.Service{}, nil
	}
	if err != nil {
		return nil, swarm.Service{}, fmt.Errorf("inspect state service %s: %w", s.name, err)
	}
	return copyMap(res.Service.Spec.Labels), res.Service, nil
}

// errUnchanged: change had nothing to do.
var errUnchanged = errors.New("unchanged")

// update applies change to the labels under a compare-and-swap, retried
// when another writer came first.
func (s *State) update(ctx context.Context, change func(map[string]string) error) error {
	var last error
	for attempt := 0; attempt < conflictRetries; attempt++ {
		var tok uint64
		if s.fence != nil {
			t, err := s.fence.Token(0)
			if err != nil {
				return fmt.Errorf("state write refused: %w", err)
			}
			tok = t
		}
		labels, svc, err := s.labels(ctx)
		if err != nil {
			return err
		}
		if s.fence != nil {
			if err := (&Fencer{}).check("state service "+s.name, labels, tok); err != nil {
				return err
			}
			labels[LabelEpoch] = strconv.FormatUint(tok, 10)
		}
		if err := change(labels); err != nil {
			if errors.Is(err, errUnchanged) {
				return nil
			}
			return err
		}
		if svc.ID == "" {
			zero := uint64(0)
			spec := swarm.ServiceSpec{
				Annotations:  swarm.Annotations{Name: s.name, Labels: labels},
				TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: leaseImage}},
				Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &zero}},
			}
			_, err = s.api.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec})
			if err == nil {
				return nil
			}
			if !cerrdefs.IsConflict(err) && !cerrdefs.IsAlreadyExists(err) {
				return fmt.Errorf("create state service %s: %w", s.name, err)
			}
		} else {
			spec := svc.Spec
			spec.Labels = labels
			_, err = s.api.ServiceUpdate(ctx, svc.ID, client.ServiceUpdateOptions{Version: svc.Version, Spec: spec})
			if err == nil {
				return nil
			}
			if !IsConflict(err) {
				return fmt.Errorf("update state service %s: %w", s.name, err)
			}
		}
		last = err
		if err := sleep(ctx, time.Duration(attempt+1)*50*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("state service %s: still out of sequence after %d tries: %w", s.name, conflictRetries, last)
}

func put(prefix, key string, v any, asJSON bool) func(map[string]string) error {
	return func(l map[string]string) error {
		var b []byte
		var err error
		if asJSON {
			b, err = json.Marshal(v)
		} else {
			b, err = yaml.Marshal(v)
		}
		if err != nil {
			return fmt.Errorf("encode %s%s: %w", prefix, key, err)
		}
		l[prefix+key] = string(b)
		return nil
	}
}

func del(prefix, key string) func(map[string]string) error {
	return func(l map[string]string) error {
		if _, ok := l[prefix+key]; !ok {
			return fmt.Errorf("%s%s: %w", prefix, key, store.ErrNotFound)
		}
		delete(l, prefix+key)
		return nil
	}
}

// records returns the labels under prefix, by key, in key order.
func records(l map[string]string, prefix string) (keys []string, values map[string]string) {
	values = map[string]string{}
	for k, v := range l {
		if key, ok := strings.CutPrefix(k, prefix); ok {
			keys = append(keys, key)
			values[key] = v
		}
	}
	sort.Strings(keys)
	return keys, values
}

// Apps implements api.Registry.
func (s *State) Apps(ctx context.Context) ([]config.App, error) {
	l, _, err := s.labels(ctx)
	if err != nil {
		return nil, err
	}
	keys, vals := records(l, stateApp)
	out := make([]config.App, 0, len(keys))
	for _, k := range keys {
		a, err := store.DecodeApp([]byte(k), []byte(vals[k]))
		if err != nil {
			return nil, fmt.Errorf("state service %s: %w", s.name, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// PutApp implements api.Registry.
func (s *State) PutApp(ctx context.Context, a config.App) error {
	return s.update(ctx, put(stateApp, a.Name, a, false))
}

// DeleteApp implements api.Registry.
func (s *State) DeleteApp(ctx context.Context, name string) error {
	return s.update(ctx, del(stateApp, name))
}

// Overrides implements api.Registry.
func (s *State) Overrides(ctx context.Context) (map[string]store.Override, error) {
	l, _, err := s.labels(ctx)
	if err != nil {
		return nil, err
	}
	keys, vals := records(l, stateOverride)
	out := map[string]store.Override{}
	for _, k := range keys {
		o, err := store.DecodeOverride([]byte(k), []byte(vals[k]))
		if err != nil {
			return nil, fmt.Errorf("state service %s: %w", s.name, err)
		}
		out[k] = o
	}
	return out, nil
}

// PutOverride implements api.Registry.
func (s *State) PutOverride(ctx context.Context, o store.Override) error {
	return s.update(ctx, put(stateOverride, o.App, o, false))
}

// DeleteOverride implements api.Registry.
func (s *State) DeleteOverride(ctx context.Context, app string) error {
	return s.update(ctx, del(stateOverride, app))
}

// PoolRequests returns the manual pool requests not yet carried out.
func (s *State) PoolRequests(ctx context.Context) ([]cluster.PoolRequest, error) {
	l, _, err := s.labels(ctx)
	if err != nil {
		return nil, err
	}
	keys, vals := records(l, stateRequest)
	out := make([]cluster.PoolRequest, 0, len(keys))
	for _, k := range keys {
		r, err := store.DecodeRequest([]byte(k), []byte(vals[k]))
		if err != nil {
			return nil, fmt.Errorf("state service %s: %w", s.name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// PutPoolRequest makes r its pool's request.
func (s *State) PutPoolRequest(ctx context.Context, r cluster.PoolRequest) error {
	return s.update(ctx, put(stateRequest, r.Pool, r, true))
}

// DeletePoolRequest forgets pool's request if it is still number seq.
func (s *State) DeletePoolRequest(ctx context.Context, pool string, seq uint64) error {
	return s.update(ctx, func(l map[string]string) error {
		v, ok := l[stateRequest+pool]
		if !ok {
			return errUnchanged
		}
		r, err := store.DecodeRequest([]byte(pool), []byte(v))
		if err == nil && r.Seq != seq {
			return errUnchanged
		}
		delete(l, stateRequest+pool)
		return nil
	})
}

var _ throttle.Store = (*State)(nil)

// Throttles implements throttle.Store: the rate limits hoist wants, so a
// new leader goes on applying them.
func (s *State) Throttles(ctx context.Context) ([]throttle.Entry, error) {
	l, _, err := s.labels(ctx)
	if err != nil {
		return nil, err
	}
	keys, vals := records(l, stateThrottle)
	out := make([]throttle.Entry, 0, len(keys))
	for _, k := range keys {
		e, err := store.DecodeThrottle([]byte(k), []byte(vals[k]))
		if err != nil {
			return nil, fmt.Errorf("state service %s: %w", s.name, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// PutThrottle implements throttle.Store.
func (s *State) PutThrottle(ctx context.Context, e throttle.Entry) error {
	return s.update(ctx, put(stateThrottle, e.App, e, true))
}

// DeleteThrottle implements throttle.Store; nothing to do when there is none.
func (s *State) DeleteThrottle(ctx context.Context, app string) error {
	return s.update(ctx, func(l map[string]string) error {
		if _, ok := l[stateThrottle+app]; !ok {
			return errUnchanged
		}
		delete(l, stateThrottle+app)
		return nil
	})
}
