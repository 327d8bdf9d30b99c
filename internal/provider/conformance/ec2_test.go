package conformance

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/provider/ec2"
)

// ec2Subject is the ec2 provider, through the AWS SDK's standard
// configuration chain (credentials and region from the environment) and an
// endpoint override, against the EC2 Query API fake.
func ec2Subject(t *testing.T) *subject {
	f := newEC2Fake(t)
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": f.keyID, "AWS_SECRET_ACCESS_KEY": f.secret, "AWS_SESSION_TOKEN": f.session,
		"AWS_REGION": f.region, "AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_EC2": "",
	} {
		t.Setenv(k, v)
	}
	var tokens joinerFunc = func(context.Context) (string, string, error) { return joinAddr, joinToken, nil }
	newWith := func(t *testing.T, pool string, log *slog.Logger, j ec2.Joiner) *ec2.Provider {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := ec2.NewClient(ctx, "", "", f.srv.URL, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ec2.New(ec2.Options{Pool: pool, Client: c, Joiner: j, InstanceType: "t3.medium", AMI: "ami-0hoist",
			Subnet: "subnet-1", SecurityGroups: []string{"sg-swarm", "sg-ssh"}, Key: "ops", AvailabilityZone: "eu-west-1a", Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	newProvider := func(t *testing.T, pool string, log *slog.Logger) engine.Provider {
		return newWith(t, pool, log, tokens)
	}
	s := &subject{
		newProvider:    newProvider,
		count:          func(t *testing.T, name string) int { return len(f.named(name)) },
		made:           func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.runs },
		commitThenFail: func(*testing.T) { f.inject("RunInstances", "500-after-commit") },
		joinScript: func(t *testing.T, name string) string {
			is := f.named(name)
			if len(is) != 1 {
				t.Fatalf("%d instances named %s", len(is), name)
			}
			i := is[0]
			if i.tags[ec2.TagPool] != "workers" || i.tags[ec2.TagMachine] != name || i.itype != "t3.medium" || i.ami != "ami-0hoist" ||
				i.subnet != "subnet-1" || i.key != "ops" || i.az != "eu-west-1a" || strings.Join(i.groups, ",") != "sg-swarm,sg-ssh" ||
				i.token != ec2.ClientToken("workers", name) {
				t.Errorf("instance %+v: not the pool's settings", i)
			}
			return string(i.userData)
		},
		addForeign: func(t *testing.T, name string) {
			f.addForeign(name, nil)
			f.addForeign("others-"+name, map[string]string{ec2.TagPool: "others"}) // no machine tag: not hoist's make
		},
		secrets: []string{f.secret, f.session},
	}
	s.extra = func(t *testing.T, logs *syncBuffer) {
		log := slog.New(slog.NewTextHandler(logs, nil))
		p := newWith(t, "workers", log, tokens)
		ctx := ctxT(t)
		t.Run("a run that timed out after the commit is retried with its token", func(t *testing.T) {
			before := s.made()
			f.inject("RunInstances", "timeout-after-commit")
			m, err := p.Create(ctx, "workers-slow")
			if err != nil || len(f.named("workers-slow")) != 1 || m.ID != f.named("workers-slow")[0].id || s.made()-before != 1 {
				t.Errorf("create = %+v, %v; %d instances", m, err, len(f.named("workers-slow")))
			}
		})
		t.Run("throttling and 500s are retried by the SDK", func(t *testing.T) {
			f.inject("RunInstances", "throttle")
			f.inject("RunInstances", "500")
			f.inject("DescribeInstances", "throttle")
			if _, err := p.Create(ctx, "workers-throttled"); err != nil || len(f.named("workers-throttled")) != 1 {
				t.Errorf("create: %v, %d instances", err, len(f.named("workers-throttled")))
			}
		})
		t.Run("a rotated join token and a lagging describe still give the same instance", func(t *testing.T) {
			if _, err := p.Create(ctx, "workers-rotated"); err != nil {
				t.Fatal(err)
			}
			first := f.named("workers-rotated")[0].id
			// The next describe does not see it yet, and the swarm's token
			// changed: the same ClientToken with other user data.
			f.mu.Lock()
			f.hide, f.hideFrom = 1, 0
			f.mu.Unlock()
			var rotated joinerFunc = func(context.Context) (string, string, error) { return joinAddr, "SWMTKN-1-rotated-" + randHex(8), nil }
			m, err := newWith(t, "workers", log, rotated).Create(ctx, "workers-rotated")
			if err != nil || m.ID != first || len(f.named("workers-rotated")) != 1 {
				t.Errorf("create after the rotation = %+v, %v; want %s alone", m, err, first)
			}
		})
		t.Run("a terminated instance's token is an error, not a machine", func(t *testing.T) {
			if err := p.Destroy(ctx, "workers-rotated"); err != nil {
				t.Fatal(err)
			}
			if m, err := p.Create(ctx, "workers-rotated"); err == nil {
				t.Errorf("create of a terminated machine's name = %+v, want an error", m)
			}
		})
		for _, n := range []string{"workers-slow", "workers-throttled"} {
			if err := p.Destroy(ctx, n); err != nil {
				t.Error(err)
			}
		}
	}
	return s
}

type joinerFunc func(context.Context) (string, string, error)

func (f joinerFunc) JoinInfo(ctx context.Context) (string, string, error) { return f(ctx) }
