// Package ec2 is engine.Provider for AWS EC2 instances, through the AWS SDK
// for Go v2. A machine is one instance tagged hoist:pool and hoist:machine,
// ordered by RunInstances with a ClientToken derived from pool and machine
// name, so a retried or repeated order (a lost answer, a restarted hoist) is
// the same instance; it joins the swarm by its user data (package cloudinit).
// Credentials come from the SDK's standard chain.
package ec2

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/keylock"
	"github.com/hoist/hoist/internal/provider/cloudinit"
)

var _ engine.Provider = (*Provider)(nil)

// Tags on every instance hoist makes.
const (
	TagPool    = "hoist:pool"
	TagMachine = "hoist:machine"
)

// live are the states of an instance that is, or may again be, a machine.
var live = []string{"pending", "running", "stopping", "stopped"}

// API is the part of the EC2 client the provider calls (*ec2.Client).
type API interface {
	RunInstances(ctx context.Context, in *ec2.RunInstancesInput, opts ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, opts ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
}

var _ API = (*ec2.Client)(nil)

// Joiner gives the swarm's join address and worker token
// (swarm.Orchestrator implements it).
type Joiner interface {
	JoinInfo(ctx context.Context) (addr, token string, err error)
}

// Options configure a Provider.
type Options struct {
	Pool   string
	Client API
	Joiner Joiner
	// InstanceType and AMI are required.
	InstanceType, AMI string
	Subnet            string
	SecurityGroups    []string // IDs
	Key               string
	AvailabilityZone  string
	Logger            *slog.Logger
}

// Provider orders the EC2 instances of one pool. Safe for concurrent use.
type Provider struct {
	opt   Options
	log   *slog.Logger
	locks keylock.Map
}

// New returns a provider; it calls nothing.
func New(opt Options) (*Provider, error) {
	if opt.Pool == "" || opt.Client == nil || opt.Joiner == nil || opt.InstanceType == "" || opt.AMI == "" {
		return nil, errors.New("ec2 provider: pool, client, joiner, instance type and AMI are required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Provider{opt: opt, log: opt.Logger.With("pool", opt.Pool)}, nil
}

// NewClient makes an EC2 client from the SDK's standard configuration chain
// (environment, shared config and credentials files, instance role); region
// and profile override it when set, endpoint replaces EC2's (an
// EC2-compatible cloud). Each HTTP request is bounded by timeout; the SDK
// retries throttling, 5xx answers and timeouts itself.
func NewClient(ctx context.Context, region, profile, endpoint string, timeout time.Duration) (*ec2.Client, error) {
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(timeout)),
	}
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(profile))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("ec2: AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("ec2: no region: set the pool's ec2.region, AWS_REGION or the profile's region")
	}
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// ClientToken is the idempotency token of machine name of pool: the same
// across retries and restarts, different for every pool and name.
func ClientToken(pool, name string) string {
	sum := sha256.Sum256([]byte(pool + "\x00" + name))
	return "hoist-" + hex.EncodeToString(sum[:20])
}

func filter(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

func tag(i types.Instance, key string) string {
	for _, t := range i.Tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// describe lists the instances matching filters, every page, oldest first.
func (p *Provider) describe(ctx context.Context, filters ...types.Filter) ([]types.Instance, error) {
	in := &ec2.DescribeInstancesInput{Filters: filters}
	pg := ec2.NewDescribeInstancesPaginator(p.opt.Client, in, func(o *ec2.DescribeInstancesPaginatorOptions) { o.Limit = 200 })
	var out []types.Instance
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				// The filters say so; checked again, as a cloud's filters may be looser.
				if tag(i, TagPool) == p.opt.Pool {
					out = append(out, i)
				}
			}
		}
	}
	sort.Slice(out, func(a, b int) bool {
		ta, tb := aws.ToTime(out[a].LaunchTime), aws.ToTime(out[b].LaunchTime)
		if !ta.Equal(tb) {
			return ta.Before(tb)
		}
		return aws.ToString(out[a].InstanceId) < aws.ToString(out[b].InstanceId)
	})
	return out, nil
}

// find returns the live instance of machine name, the oldest if several.
func (p *Provider) find(ctx context.Context, name string) (*types.Instance, error) {
	is, err := p.describe(ctx, filter("tag:"+TagPool, p.opt.Pool), filter("tag:"+TagMachine, name), filter("instance-state-name", live...))
	if err != nil || len(is) == 0 {
		return nil, err
	}
	return &is[0], nil
}

func (p *Provider) machine(i types.Instance) cluster.Machine {
	m := cluster.Machine{Name: tag(i, TagMachine), Pool: p.opt.Pool, ID: aws.ToString(i.InstanceId), Addr: aws.ToString(i.PrivateIpAddress)}
	state := ""
	if i.State != nil {
		state = string(i.State.Name)
	}
	switch state {
	case "pending":
		m.Status = cluster.MachineCreating
	case "running":
		m.Status = cluster.MachineRunning
	default:
		m.Status = cluster.MachineFailed
		m.Detail = "instance is " + state
		if i.StateReason != nil && i.StateReason.Message != nil {
			m.Detail += ": " + aws.ToString(i.StateReason.Message)
		}
	}
	return m
}

// Create implements engine.Provider.
func (p *Provider) Create(ctx context.Context, name string) (cluster.Machine, error) {
	defer p.locks.Lock(name)()
	i, err := p.find(ctx, name)
	if err != nil {
		return cluster.Machine{}, cloudinit.Wrap(err, "create "+name+": look up")
	}
	if i != nil {
		return p.machine(*i), nil
	}
	addr, token, err := p.opt.Joiner.JoinInfo(ctx)
	if err != nil {
		return cluster.Machine{}, fmt.Errorf("create %s: swarm join info: %w", name, err)
	}
	ud, err := cloudinit.UserData(addr, token, p.opt.Pool, name)
	if err != nil {
		return cluster.Machine{}, fmt.Errorf("create %s: %w", name, err)
	}
	ud64 := base64.StdEncoding.EncodeToString(ud) // EC2 takes it encoded; the SDK does not encode it
	ct := ClientToken(p.opt.Pool, name)
	in := &ec2.RunInstancesInput{
		ImageId: aws.String(p.opt.AMI), InstanceType: types.InstanceType(p.opt.InstanceType),
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), ClientToken: aws.String(ct), UserData: aws.String(ud64),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{
			{Key: aws.String(TagPool), Value: aws.String(p.opt.Pool)},
			{Key: aws.String(TagMachine), Value: aws.String(name)},
			{Key: aws.String("Name"), Value: aws.String(name)},
		}}},
	}
	if p.opt.Subnet != "" {
		in.SubnetId = aws.String(p.opt.Subnet)
	}
	if len(p.opt.SecurityGroups) > 0 {
		in.SecurityGroupIds = p.opt.SecurityGroups
	}
	if p.opt.Key != "" {
		in.KeyName = aws.String(p.opt.Key)
	}
	if p.opt.AvailabilityZone != "" {
		in.Placement = &types.Placement{AvailabilityZone: aws.String(p.opt.AvailabilityZone)}
	}
	start := time.Now()
	out, err := p.opt.Client.RunInstances(ctx, in)
	if err != nil {
		// The token's instance exists but was ordered with other parameters
		// (the swarm token rotated since, and the tag look-up above missed it
		// as DescribeInstances lags): it is this machine.
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "IdempotentParameterMismatch" {
			is, derr := p.describe(ctx, filter("client-token", ct))
			if derr == nil && len(is) > 0 {
				return p.created(name, is[0], start)
			}
		}
		// A call that failed after the order was taken (every retry lost its
		// answer) left the instance: look before saying it failed.
		if i, ferr := p.find(ctx, name); ferr == nil && i != nil {
			p.log.Warn("run answered with an error, but the instance exists", "machine", name, "id", aws.ToString(i.InstanceId),
				"err", cloudinit.Redact(err.Error(), token, ud64))
			return p.created(name, *i, start)
		}
		return cluster.Machine{}, cloudinit.Wrap(err, "create "+name, token, ud64)
	}
	if len(out.Instances) != 1 {
		return cluster.Machine{}, fmt.Errorf("create %s: EC2 answered %d instances, want 1", name, len(out.Instances))
	}
	return p.created(name, out.Instances[0], start)
}

// created reports the instance ordered for name; one already shutting down
// or terminated (the token's instance was destroyed) is an error.
func (p *Provider) created(name string, i types.Instance, start time.Time) (cluster.Machine, error) {
	if i.State != nil && (i.State.Name == types.InstanceStateNameShuttingDown || i.State.Name == types.InstanceStateNameTerminated) {
		return cluster.Machine{}, fmt.Errorf("create %s: its instance %s is %s", name, aws.ToString(i.InstanceId), i.State.Name)
	}
	m := p.machine(i)
	m.Name = name
	p.log.Info("instance ordered", "machine", name, "id", m.ID, "took", time.Since(start).Round(time.Millisecond))
	return m, nil
}

// Destroy implements engine.Provider: it terminates every live instance of
// the name; none is success.
func (p *Provider) Destroy(ctx context.Context, name string) error {
	defer p.locks.Lock(name)()
	is, err := p.describe(ctx, filter("tag:"+TagPool, p.opt.Pool), filter("tag:"+TagMachine, name), filter("instance-state-name", live...))
	if err != nil {
		return cloudinit.Wrap(err, "destroy "+name+": look up")
	}
	if len(is) == 0 {
		return nil
	}
	ids := make([]string, len(is))
	for k, i := range is {
		ids[k] = aws.ToString(i.InstanceId)
	}
	_, err = p.opt.Client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
	var ae smithy.APIError
	if err != nil && !(errors.As(err, &ae) && ae.ErrorCode() == "InvalidInstanceID.NotFound") {
		return cloudinit.Wrap(err, "destroy "+name)
	}
	p.log.Info("instance terminated", "machine", name, "ids", ids)
	return nil
}

// List implements engine.Provider: the pool's pending, running, stopping and
// stopped instances (stopped ones are reported failed, so the engine
// replaces them).
func (p *Provider) List(ctx context.Context) ([]cluster.Machine, error) {
	is, err := p.describe(ctx, filter("tag:"+TagPool, p.opt.Pool), filter("instance-state-name", live...))
	if err != nil {
		return nil, cloudinit.Wrap(err, "list "+p.opt.Pool)
	}
	seen := map[string]bool{}
	var out []cluster.Machine
	for _, i := range is {
		m := p.machine(i)
		if m.Name == "" || seen[m.Name] {
			continue
		}
		seen[m.Name] = true
		out = append(out, m)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}
