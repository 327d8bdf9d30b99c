package conformance

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/provider/openstack"
)

// openstackSubject is the openstack provider, through gophercloud and a
// clouds.yaml, against the Keystone and Nova fake.
func openstackSubject(t *testing.T) *subject {
	f := newNova(t)
	dir := t.TempDir()
	clouds := "clouds:\n  test:\n    auth:\n      auth_url: " + f.srv.URL + "/identity/v3\n" +
		"      username: " + f.user + "\n      password: " + f.pass + "\n      project_name: hoist\n" +
		"      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n"
	if err := os.WriteFile(filepath.Join(dir, "clouds.yaml"), []byte(clouds), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OS_CLIENT_CONFIG_FILE", filepath.Join(dir, "clouds.yaml"))
	t.Setenv("OS_CLOUD", "")
	newProvider := func(t *testing.T, pool string, log *slog.Logger) engine.Provider {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := openstack.Connect(ctx, "test", "", 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		p, err := openstack.New(openstack.Options{Pool: pool, Compute: c, Joiner: joiner{}, Flavor: "m1.small", Image: "img-1",
			Network: "net-1", Key: "ops", SecurityGroups: []string{"swarm"}, AvailabilityZone: "nova", Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := &subject{
		newProvider:    newProvider,
		count:          func(t *testing.T, name string) int { return len(f.named(name)) },
		made:           func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.posts },
		commitThenFail: func(*testing.T) { f.inject("create", "500-after-commit") },
		joinScript: func(t *testing.T, name string) string {
			ss := f.named(name)
			if len(ss) != 1 {
				t.Fatalf("%d servers named %s", len(ss), name)
			}
			s := ss[0]
			if s.Metadata[openstack.MetaPool] != "workers" || s.Metadata[openstack.MetaMachine] != name || s.KeyName != "ops" ||
				s.Flavor["id"] != "f-small" || s.Image["id"] != "img-1" || s.az != "nova" || s.network != "net-1" ||
				len(s.groups) != 1 || s.groups[0] != "swarm" {
				t.Errorf("server %+v, az %q, network %q, groups %v: not the pool's settings", s, s.az, s.network, s.groups)
			}
			return string(s.userData) // decoded once from base64 by the fake: not encoded twice
		},
		addForeign: func(t *testing.T, name string) {
			f.addForeign(name, nil)                                                       // not made by hoist
			f.addForeign("others-"+name, map[string]string{openstack.MetaPool: "others"}) // another pool's
		},
		secrets: []string{f.pass, f.token},
	}
	s.extra = func(t *testing.T, logs *syncBuffer) {
		p := newProvider(t, "workers", slog.New(slog.NewTextHandler(logs, nil)))
		ctx := ctxT(t)
		t.Run("a create that timed out after the commit is found", func(t *testing.T) {
			f.inject("create", "timeout-after-commit")
			m, err := p.Create(ctx, "workers-slow")
			if err != nil || len(f.named("workers-slow")) != 1 || m.ID != f.named("workers-slow")[0].ID {
				t.Errorf("create = %+v, %v; %d servers", m, err, len(f.named("workers-slow")))
			}
		})
		t.Run("429 is retried after Retry-After, 409 and 500 are errors that leave nothing", func(t *testing.T) {
			f.inject("create", "429")
			if _, err := p.Create(ctx, "workers-limited"); err != nil || len(f.named("workers-limited")) != 1 {
				t.Errorf("create after a 429: %v, %d servers", err, len(f.named("workers-limited")))
			}
			for _, kind := range []string{"409", "500"} {
				f.inject("create", kind)
				if _, err := p.Create(ctx, "workers-refused-"+kind); err == nil || len(f.named("workers-refused-"+kind)) != 0 {
					t.Errorf("create answered %s: %v, %d servers (want an error, none)", kind, err, len(f.named("workers-refused-"+kind)))
				}
			}
			f.inject("list", "500")
			if _, err := p.List(ctx); err == nil {
				t.Error("a list answered 500 gave no error")
			}
		})
		t.Run("an error quoting the user data is redacted", func(t *testing.T) {
			f.inject("create", "400-echo")
			_, err := p.Create(ctx, "workers-echo")
			if err == nil || !strings.Contains(err.Error(), "[redacted]") {
				t.Fatalf("err = %v, want the quoted user data redacted", err)
			}
			checkSecrets(t, s, "error", err.Error())
		})
		t.Run("two processes racing on one name keep one server", func(t *testing.T) {
			a, b := newProvider(t, "workers", nil), newProvider(t, "workers", nil)
			var wg sync.WaitGroup
			for i := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p := a
					if i%2 == 1 {
						p = b
					}
					if _, err := p.Create(ctx, "workers-two-hoists"); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if n := len(f.named("workers-two-hoists")); n != 1 {
				t.Errorf("%d servers left, want 1", n)
			}
		})
		for _, n := range []string{"workers-slow", "workers-limited", "workers-two-hoists"} {
			if err := p.Destroy(ctx, n); err != nil {
				t.Error(err)
			}
		}
	}
	return s
}
