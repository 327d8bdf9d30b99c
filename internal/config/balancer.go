package config

import "fmt"

// BalancerSuffix names a balancer's own app: app "web" gets "web-lb".
const BalancerSuffix = "-lb"

// check validates a balancer section beside its app's own checks.
func (b *Balancer) check(ck *checker, path string, a *App, pools map[string]*Pool) {
	path += ".balancer"
	if a.Port <= 0 {
		ck.add(path, "the app needs a port for the balancer to send traffic to")
	}
	if b.StatsPort < 0 || b.StatsPort > 65535 {
		ck.add(path+".stats_port", "must be a TCP port")
	} else if b.StatsPort == b.Port && b.Port != 0 {
		ck.add(path+".stats_port", "must differ from port %d", b.Port)
	}
	if b.Check != "" && b.Check[0] != '/' {
		ck.add(path+".check", "must be an HTTP path starting with /")
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
		ck.add(path+".replicas.max", "max %d is less than min %d", b.Replicas.Max, b.Replicas.Min)
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
