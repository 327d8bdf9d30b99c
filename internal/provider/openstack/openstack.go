// Package openstack is engine.Provider for OpenStack Nova servers, through
// gophercloud. A machine is a server named as the engine names it, with the
// metadata hoist.pool and hoist.machine; it joins the swarm by its user data
// (package cloudinit).
//
// Nova has no idempotency token, so Create is made idempotent by name: it
// looks the name up first, and after a create call, answered or not, looks
// again. Creates of one name in this process run one at a time; if two
// processes race and two servers carry the name, every caller keeps the same
// one (the oldest, then the smallest ID) and deletes the others.
package openstack

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gcos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/keylock"
	"github.com/hoist/hoist/internal/provider/cloudinit"
)

var _ engine.Provider = (*Provider)(nil)

// Metadata keys on every server hoist makes.
const (
	MetaPool    = "hoist.pool"
	MetaMachine = "hoist.machine"
)

// Joiner gives the swarm's join address and worker token
// (swarm.Orchestrator implements it).
type Joiner interface {
	JoinInfo(ctx context.Context) (addr, token string, err error)
}

// Options configure a Provider.
type Options struct {
	Pool string
	// Compute is an authenticated Nova client (Connect makes one).
	Compute *gophercloud.ServiceClient
	Joiner  Joiner
	// Flavor is a flavor ID or name; Image an image ID (both required).
	Flavor, Image    string
	Network          string // network ID; "" lets Nova choose
	Key              string
	SecurityGroups   []string
	AvailabilityZone string
	Logger           *slog.Logger
}

// Provider orders the Nova servers of one pool. Safe for concurrent use.
type Provider struct {
	opt Options
	log *slog.Logger

	mu     sync.Mutex
	locks  keylock.Map
	flavor string // resolved flavor ID
}

// New returns a provider; it calls nothing.
func New(opt Options) (*Provider, error) {
	if opt.Pool == "" || opt.Compute == nil || opt.Joiner == nil || opt.Flavor == "" || opt.Image == "" {
		return nil, errors.New("openstack provider: pool, compute client, joiner, flavor and image are required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Provider{opt: opt, log: opt.Logger.With("pool", opt.Pool)}, nil
}

// Connect authenticates with Keystone and returns a Nova client. cloud names
// a clouds.yaml entry; "" reads OS_CLOUD, or the OS_* variables. Each request
// is bounded by timeout; a 429 is retried after its Retry-After (at most
// five times, each wait at most a minute).
func Connect(ctx context.Context, cloud, region string, timeout time.Duration) (*gophercloud.ServiceClient, error) {
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	var (
		ao  gophercloud.AuthOptions
		eo  gophercloud.EndpointOpts
		tr  = http.DefaultTransport.(*http.Transport).Clone()
		err error
	)
	if cloud != "" || os.Getenv("OS_CLOUD") != "" {
		opts := []clouds.ParseOption{}
		if cloud != "" {
			opts = append(opts, clouds.WithCloudName(cloud))
		}
		if region != "" {
			opts = append(opts, clouds.WithRegion(region))
		}
		var tlsConfig = tr.TLSClientConfig
		ao, eo, tlsConfig, err = clouds.Parse(opts...)
		if err != nil {
			return nil, fmt.Errorf("openstack: clouds.yaml: %w", err)
		}
		tr.TLSClientConfig = tlsConfig
	} else {
		ao, err = gcos.AuthOptionsFromEnv()
		if err != nil {
			return nil, fmt.Errorf("openstack: OS_* environment: %w", err)
		}
		eo.Region = region
		if eo.Region == "" {
			eo.Region = os.Getenv("OS_REGION_NAME")
		}
	}
	ao.AllowReauth = true
	pc, err := gcos.NewClient(ao.IdentityEndpoint)
	if err != nil {
		return nil, fmt.Errorf("openstack: %w", err)
	}
	pc.HTTPClient = http.Client{Transport: tr, Timeout: timeout}
	pc.MaxBackoffRetries = 5
	pc.RetryBackoffFunc = retryAfter
	if err := gcos.Authenticate(ctx, pc, ao); err != nil {
		return nil, fmt.Errorf("openstack: authenticate at %s: %w", ao.IdentityEndpoint, err)
	}
	c, err := gcos.NewComputeV2(pc, eo)
	if err != nil {
		return nil, fmt.Errorf("openstack: compute endpoint: %w", err)
	}
	return c, nil
}

// retryAfter waits out a 429's Retry-After (seconds; 1s if absent).
func retryAfter(ctx context.Context, resp *gophercloud.ErrUnexpectedResponseCode, _ error, _ uint) error {
	wait := time.Second
	if s := resp.ResponseHeader.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			wait = time.Duration(n) * time.Second
		} else if t, err := http.ParseTime(s); err == nil {
			wait = time.Until(t)
		}
	}
	wait = min(max(wait, 0), time.Minute)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// server is what hoist reads of a Nova server.
type server struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Status    string            `json:"status"`
	TaskState string            `json:"OS-EXT-STS:task_state"`
	Created   time.Time         `json:"created"`
	Metadata  map[string]string `json:"metadata"`
	Addresses map[string][]struct {
		Addr    string `json:"addr"`
		Version int    `json:"version"`
	} `json:"addresses"`
	Fault struct {
		Message string `json:"message"`
	} `json:"fault"`
}

// gone reports a server being deleted: it is no machine any more (listing it
// would make the engine adopt what it just destroyed).
func (s server) gone() bool {
	return s.Status == "DELETED" || s.Status == "SOFT_DELETED" || s.TaskState == "deleting"
}

func (p *Provider) machine(s server) cluster.Machine {
	m := cluster.Machine{Name: s.Name, Pool: p.opt.Pool, ID: s.ID, Addr: s.addr()}
	switch s.Status {
	case "BUILD":
		m.Status = cluster.MachineCreating
	case "ACTIVE", "REBOOT", "HARD_REBOOT", "MIGRATING", "PASSWORD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "UNKNOWN":
		m.Status = cluster.MachineRunning
		if s.Status != "ACTIVE" {
			m.Detail = "server is " + s.Status
		}
	default: // ERROR, SHUTOFF, STOPPED, PAUSED, SUSPENDED, SHELVED...
		m.Status = cluster.MachineFailed
		m.Detail = "server is " + s.Status
		if s.Fault.Message != "" {
			m.Detail += ": " + s.Fault.Message
		}
	}
	return m
}

// addr is the server's first IPv4 address (networks in name order).
func (s server) addr() string {
	nets := make([]string, 0, len(s.Addresses))
	for n := range s.Addresses {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	for _, n := range nets {
		for _, a := range s.Addresses[n] {
			if a.Version == 4 || a.Version == 0 {
				return a.Addr
			}
		}
	}
	return ""
}

// servers lists the pool's servers, of one name if name is not "".
func (p *Provider) servers(ctx context.Context, name string) ([]server, error) {
	opts := servers.ListOpts{}
	if name != "" {
		opts.Name = "^" + regexp.QuoteMeta(name) + "$" // Nova matches names as regular expressions
	}
	var out []server
	err := servers.List(p.opt.Compute, opts).EachPage(ctx, func(_ context.Context, page pagination.Page) (bool, error) {
		var ss []server
		if err := servers.ExtractServersInto(page, &ss); err != nil {
			return false, err
		}
		for _, s := range ss {
			if s.Metadata[MetaPool] == p.opt.Pool && s.Metadata[MetaMachine] == s.Name && (name == "" || s.Name == name) && !s.gone() {
				out = append(out, s)
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	// The oldest first, then by ID: every process keeps the same one.
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// find returns the server named name, deleting any later duplicates.
func (p *Provider) find(ctx context.Context, name string) (*server, error) {
	ss, err := p.servers(ctx, name)
	if err != nil || len(ss) == 0 {
		return nil, err
	}
	for _, dup := range ss[1:] {
		p.log.Warn("two servers carry one machine name: deleting the newer", "machine", name, "keep", ss[0].ID, "delete", dup.ID)
		if err := servers.Delete(ctx, p.opt.Compute, dup.ID).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return nil, fmt.Errorf("delete duplicate server %s: %w", dup.ID, err)
		}
	}
	return &ss[0], nil
}

// flavorID resolves the flavor once: an ID as is, else a name.
func (p *Provider) flavorID(ctx context.Context) (string, error) {
	p.mu.Lock()
	id := p.flavor
	p.mu.Unlock()
	if id != "" {
		return id, nil
	}
	_, err := flavors.Get(ctx, p.opt.Compute, p.opt.Flavor).Extract()
	switch {
	case err == nil:
		id = p.opt.Flavor
	case gophercloud.ResponseCodeIs(err, http.StatusNotFound):
		all, lerr := flavors.ListDetail(p.opt.Compute, flavors.ListOpts{AccessType: flavors.AllAccess}).AllPages(ctx)
		if lerr != nil {
			return "", fmt.Errorf("list flavors: %w", lerr)
		}
		fs, lerr := flavors.ExtractFlavors(all)
		if lerr != nil {
			return "", fmt.Errorf("list flavors: %w", lerr)
		}
		for _, f := range fs {
			if f.Name == p.opt.Flavor {
				if id != "" {
					return "", fmt.Errorf("flavor name %q is ambiguous: give its ID", p.opt.Flavor)
				}
				id = f.ID
			}
		}
		if id == "" {
			return "", fmt.Errorf("no flavor with ID or name %q", p.opt.Flavor)
		}
	default:
		return "", fmt.Errorf("flavor %s: %w", p.opt.Flavor, err)
	}
	p.mu.Lock()
	p.flavor = id
	p.mu.Unlock()
	return id, nil
}

// Create implements engine.Provider.
func (p *Provider) Create(ctx context.Context, name string) (cluster.Machine, error) {
	unlock := p.locks.Lock(name)
	defer unlock()
	s, err := p.find(ctx, name)
	if err != nil {
		return cluster.Machine{}, cloudinit.Wrap(err, "create "+name+": look up")
	}
	if s != nil {
		return p.machine(*s), nil
	}
	flavor, err := p.flavorID(ctx)
	if err != nil {
		return cluster.Machine{}, cloudinit.Wrap(err, "create "+name)
	}
	addr, token, err := p.opt.Joiner.JoinInfo(ctx)
	if err != nil {
		return cluster.Machine{}, fmt.Errorf("create %s: swarm join info: %w", name, err)
	}
	ud, err := cloudinit.UserData(addr, token, p.opt.Pool, name)
	if err != nil {
		return cluster.Machine{}, fmt.Errorf("create %s: %w", name, err)
	}
	// Encoded here: gophercloud encodes user data only when it does not
	// already decode as base64, which a script might by chance.
	ud64 := base64.StdEncoding.EncodeToString(ud)
	opts := servers.CreateOpts{
		Name: name, FlavorRef: flavor, ImageRef: p.opt.Image, UserData: []byte(ud64),
		SecurityGroups: p.opt.SecurityGroups, AvailabilityZone: p.opt.AvailabilityZone,
		Metadata: map[string]string{MetaPool: p.opt.Pool, MetaMachine: name},
	}
	if p.opt.Network != "" {
		opts.Networks = []servers.Network{{UUID: p.opt.Network}}
	}
	var b servers.CreateOptsBuilder = opts
	if p.opt.Key != "" {
		b = keypairs.CreateOptsExt{CreateOptsBuilder: opts, KeyName: p.opt.Key}
	}
	start := time.Now()
	_, cerr := servers.Create(ctx, p.opt.Compute, b, nil).Extract()
	// Answered or not, the cloud may have made it (a 5xx or a timeout after
	// the commit): look again before saying anything.
	s, err = p.find(ctx, name)
	switch {
	case err != nil && cerr != nil:
		return cluster.Machine{}, cloudinit.Wrap(errors.Join(cerr, err), "create "+name, token, ud64)
	case err != nil:
		return cluster.Machine{}, cloudinit.Wrap(err, "create "+name+": look up after create", token, ud64)
	case s == nil && cerr != nil:
		return cluster.Machine{}, cloudinit.Wrap(cerr, "create "+name, token, ud64)
	case s == nil:
		return cluster.Machine{}, fmt.Errorf("create %s: Nova accepted the server but does not list it", name)
	}
	if cerr != nil {
		p.log.Warn("create answered with an error, but the server exists", "machine", name, "id", s.ID,
			"err", cloudinit.Redact(cerr.Error(), token, ud64))
	}
	p.log.Info("server ordered", "machine", name, "id", s.ID, "took", time.Since(start).Round(time.Millisecond))
	return p.machine(*s), nil
}

// Destroy implements engine.Provider: it deletes every server of the pool
// with the name; none is success.
func (p *Provider) Destroy(ctx context.Context, name string) error {
	unlock := p.locks.Lock(name)
	defer unlock()
	ss, err := p.servers(ctx, name)
	if err != nil {
		return cloudinit.Wrap(err, "destroy "+name+": look up")
	}
	for _, s := range ss {
		err := servers.Delete(ctx, p.opt.Compute, s.ID).ExtractErr()
		if err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return cloudinit.Wrap(err, "destroy "+name)
		}
		p.log.Info("server deleted", "machine", name, "id", s.ID)
	}
	return nil
}

// List implements engine.Provider.
func (p *Provider) List(ctx context.Context) ([]cluster.Machine, error) {
	ss, err := p.servers(ctx, "")
	if err != nil {
		return nil, cloudinit.Wrap(err, "list "+p.opt.Pool)
	}
	seen := map[string]bool{}
	var out []cluster.Machine
	for _, s := range ss { // the oldest of a name first: the one Create keeps
		if !seen[s.Name] {
			seen[s.Name] = true
			out = append(out, p.machine(s))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
