package swarm

// The lease of `hoist run --ha` (internal/lease, docs/ha.md) lives in the
// labels of a service with no replicas: a service update names the version
// it read and Swarm's Raft store refuses a stale one, so the update is a
// compare-and-swap. Configs cannot serve: only their labels change, and
// without a version check.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/hoist/hoist/internal/lease"
)

// Labels of the lease service.
const (
	LeaseService      = "hoist-lease" // default name of the service holding the lease
	LabelLeaseHolder  = "hoist.lease.holder"
	LabelLeaseEpoch   = "hoist.lease.epoch"
	LabelLeaseRenewed = "hoist.lease.renewed"
	LabelLeaseAddress = "hoist.lease.address"
	// leaseImage is never pulled: the service has no replicas.
	leaseImage = "hoist/lease:none"
)

var _ lease.Store = (*LeaseStore)(nil)

// serviceAPI is what the lease store needs of the Docker API.
type serviceAPI interface {
	ServiceInspect(ctx context.Context, id string, o client.ServiceInspectOptions) (client.ServiceInspectResult, error)
	ServiceCreate(ctx context.Context, o client.ServiceCreateOptions) (client.ServiceCreateResult, error)
	ServiceUpdate(ctx context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error)
}

// LeaseStore is lease.Store on a Swarm service's labels.
type LeaseStore struct {
	api  serviceAPI
	name string
}

// NewLeaseStore keeps the lease on service name ("" means LeaseService).
func NewLeaseStore(api serviceAPI, name string) *LeaseStore {
	if name == "" {
		name = LeaseService
	}
	return &LeaseStore{api: api, name: name}
}

// Get implements lease.Store.
func (s *LeaseStore) Get(ctx context.Context) (lease.Record, uint64, error) {
	res, err := s.api.ServiceInspect(ctx, s.name, client.ServiceInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return lease.Record{}, 0, nil
	}
	if err != nil {
		return lease.Record{}, 0, fmt.Errorf("inspect lease service %s: %w", s.name, err)
	}
	rec, err := recordOf(res.Service.Spec.Labels)
	if err != nil {
		return lease.Record{}, 0, fmt.Errorf("lease service %s: %w", s.name, err)
	}
	return rec, res.Service.Version.Index, nil
}

// Put implements lease.Store: create the service at version 0, else update
// it naming version; Swarm refuses the update if the service changed since.
func (s *LeaseStore) Put(ctx context.Context, r lease.Record, version uint64) (uint64, error) {
	if version == 0 {
		zero := uint64(0)
		spec := swarm.ServiceSpec{
			Annotations:  swarm.Annotations{Name: s.name, Labels: labelsOf(nil, r)},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: leaseImage}},
			Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &zero}},
		}
		if _, err := s.api.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec}); err != nil {
			if cerrdefs.IsConflict(err) || cerrdefs.IsAlreadyExists(err) {
				return 0, fmt.Errorf("create lease service %s: %w: %w", s.name, lease.ErrConflict, err)
			}
			return 0, fmt.Errorf("create lease service %s: %w", s.name, err)
		}
		return s.written(ctx, r)
	}
	res, err := s.api.ServiceInspect(ctx, s.name, client.ServiceInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return 0, fmt.Errorf("lease service %s is gone: %w", s.name, lease.ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("inspect lease service %s: %w", s.name, err)
	}
	if res.Service.Version.Index != version {
		return 0, fmt.Errorf("lease service %s at version %d, not %d: %w", s.name, res.Service.Version.Index, version, lease.ErrConflict)
	}
	spec := res.Service.Spec
	spec.Labels = labelsOf(spec.Labels, r)
	_, err = s.api.ServiceUpdate(ctx, res.Service.ID, client.ServiceUpdateOptions{Version: swarm.Version{Index: version}, Spec: spec})
	if IsConflict(err) {
		return 0, fmt.Errorf("update lease service %s: %w: %w", s.name, lease.ErrConflict, err)
	}
	if err != nil {
		return 0, fmt.Errorf("update lease service %s: %w", s.name, err)
	}
	return s.written(ctx, r)
}

// written reads the version of the record just written. Swarm's answer to
// an update does not carry it; if another writer came in between, the
// record read is not ours and the write counts as lost.
func (s *LeaseStore) written(ctx context.Context, r lease.Record) (uint64, error) {
	got, v, err := s.Get(ctx)
	if err != nil {
		return 0, err
	}
	if got.Holder != r.Holder || got.Epoch != r.Epoch {
		return 0, fmt.Errorf("lease service %s rewritten at once by %q (epoch %d): %w", s.name, got.Holder, got.Epoch, lease.ErrConflict)
	}
	return v, nil
}

func labelsOf(old map[string]string, r lease.Record) map[string]string {
	l := copyMap(old)
	if l == nil {
		l = map[string]string{}
	}
	l[LabelLeaseHolder] = r.Holder
	l[LabelLeaseEpoch] = strconv.FormatUint(r.Epoch, 10)
	l[LabelLeaseRenewed] = r.Renewed.UTC().Format(time.RFC3339Nano)
	l[LabelLeaseAddress] = r.Address
	return l
}

var errLeaseLabels = errors.New("bad lease labels")

func recordOf(l map[string]string) (lease.Record, error) {
	r := lease.Record{Holder: l[LabelLeaseHolder], Address: l[LabelLeaseAddress]}
	var err error
	if v := l[LabelLeaseEpoch]; v != "" {
		if r.Epoch, err = strconv.ParseUint(v, 10, 64); err != nil {
			return r, fmt.Errorf("%w: %s=%q", errLeaseLabels, LabelLeaseEpoch, v)
		}
	}
	if v := l[LabelLeaseRenewed]; v != "" {
		if r.Renewed, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return r, fmt.Errorf("%w: %s=%q", errLeaseLabels, LabelLeaseRenewed, v)
		}
	}
	return r, nil
}
