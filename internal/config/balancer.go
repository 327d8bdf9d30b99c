package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// BalancerSuffix names a balancer's own app: app "web" gets "web-lb".
const BalancerSuffix = "-lb"

// check validates a balancer section beside its app's own checks.
func (b *Balancer) check(ck *checker, path string, a *App, pools map[string]*Pool) {
	path += ".balancer"
	if a.Port <= 0 {
		ck.addRel(path, []string{strings.TrimSuffix(path, ".balancer") + ".port"}, "the app needs a port for the balancer to send traffic to")
	}
	if b.StatsPort < 0 || b.StatsPort > 65535 {
		ck.add(path+".stats_port", "must be a TCP port")
	} else if b.StatsPort == b.Port && b.Port != 0 {
		ck.addRel(path+".stats_port", []string{path + ".port"}, "must differ from port %d", b.Port)
	}
	if b.Check != "" {
		if err := CheckPath(b.Check); err != nil {
			ck.add(path+".check", "%v", err)
		}
	}
	if b.Image != "" {
		if err := CheckImage(b.Image); err != nil {
			ck.add(path+".image", "%v", err)
		}
	}
	pool, ok := pools[b.Pool]
	switch {
	case b.Pool == "":
		ck.add(path+".pool", "is required: the balancer layer runs on a pool of its own")
	case !ok:
		ck.add(path+".pool", "no pool named %q", b.Pool)
	}
	if b.Replicas.Min < 1 {
		ck.add(path+".replicas.min", "must be >= 1")
	}
	if b.Replicas.Max < b.Replicas.Min {
		ck.addRel(path+".replicas.max", []string{path + ".replicas.min"}, "max %d is less than min %d", b.Replicas.Max, b.Replicas.Min)
	}
	if r := b.Resources; r != nil {
		if r.Reservations.CPUs < 0 || r.Limits.CPUs < 0 {
			ck.add(path+".resources", "CPUs must be >= 0")
		}
		if ok && (r.Reservations.CPUs > pool.Machine.CPUs || r.Reservations.Memory > pool.Machine.Memory) {
			ck.add(path+".resources.reservations", "%g CPUs / %s fit no machine of pool %s", r.Reservations.CPUs, r.Reservations.Memory, b.Pool)
		}
	}
	for j := range b.Policies {
		p := &b.Policies[j]
		pp := fmt.Sprintf("%s.policies[%d]", path, j)
		if p.Type == PolicyAlert {
			ck.add(pp+".type", "alert policies are not available for a balancer: use target or threshold")
			continue
		}
		p.check(ck, pp)
	}
}

// checkBalancers checks what involves several apps: a balancer's app name
// must be free, and two balancers on one pool cannot publish the same port.
func (c *Config) checkBalancers(ck *checker, apps map[string]bool) {
	type key struct {
		pool string
		port int
	}
	used := map[key]string{}
	for i := range c.Apps {
		a := &c.Apps[i]
		b := a.Balancer
		if b == nil || a.Name == "" {
			continue
		}
		path := fmt.Sprintf("apps[%d].balancer", i)
		if apps[a.Name+BalancerSuffix] {
			ck.add(path, "its app would be named %q, which another app has", a.Name+BalancerSuffix)
		}
		for _, port := range []struct {
			field string
			n     int
		}{{"port", b.Port}, {"stats_port", b.StatsPort}} {
			k := key{b.Pool, port.n}
			if other, dup := used[k]; dup {
				ck.add(path+"."+port.field, "port %d is already published on pool %s by the balancer of %s", port.n, b.Pool, other)
			}
			used[k] = a.Name
		}
	}
}

// checkPathRE is what an HTTP health check path may hold: the characters of
// an RFC 3986 path and query, nothing HAProxy's configuration would read as
// a separator (space, quote, '#', control characters).
var checkPathRE = regexp.MustCompile(`^/[A-Za-z0-9._~!$&()*+,;=:@/%?-]*$`)

// maxCheckPath bounds a health check path: it is a line of HAProxy's configuration.
const maxCheckPath = 1024

// ErrCheckPath is returned by CheckPath.
var ErrCheckPath = errors.New("must be an HTTP path")

// CheckPath is the one rule for a balancer's HTTP health check path, used by
// validation and by the HAProxy rendering (internal/balancer): a path
// starting with /, of URL characters only.
func CheckPath(p string) error {
	switch {
	case p == "" || p[0] != '/':
		return fmt.Errorf("%w starting with /, not %q", ErrCheckPath, p)
	case len(p) > maxCheckPath:
		return fmt.Errorf("%w of at most %d characters", ErrCheckPath, maxCheckPath)
	case !checkPathRE.MatchString(p):
		return fmt.Errorf("%w of URL characters only (letters, digits and -._~!$&()*+,;=:@/%%?), not %q", ErrCheckPath, p)
	}
	return nil
}
