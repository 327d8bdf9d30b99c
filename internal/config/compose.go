package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A Compose file (the stack file of `docker stack deploy`) is accepted
// wherever a descriptor is (docs/compose.md). Its services become apps: image,
// deploy.replicas, deploy.resources, deploy.placement, deploy.labels,
// networks, ports, environment and command are read as Swarm reads them; an
// `x-hoist` extension on a service gives what Compose has no words for
// (replica bounds, policies, slo, balancer), and a top-level `x-hoist` the
// pools, controller, sim and prometheus sections. Compose keys hoist does not
// use are ignored with a note, never refused; errors are located in the
// Compose file and named by their Compose path.
//
// The Compose file is rewritten into a descriptor tree whose nodes keep their
// positions, then walked, decoded and checked as any descriptor.

// Note is something hoist ignored in a descriptor, located like an error.
type Note = FieldError

// Keys hoist reads in an x-hoist extension.
var (
	composeAppKeys = []string{"balancer", "cooldown", "load", "on_anomaly", "policies", "pools", "port", "replicas", "slo"}
	composeTopKeys = []string{"controller", "pools", "prometheus", "sim"}
)

// Labels hoist's Swarm runtime reads on an app (internal/swarm: LabelNetwork,
// LabelEndpoint); config cannot import that package, which imports config.
const (
	labelNetwork  = "hoist.network"
	labelEndpoint = "hoist.endpoint"
	// nodePoolLabel is the node label of a machine's pool: a placement
	// constraint on it names the app's pool.
	nodePoolLabel = "node.labels.hoist.pool"
)

// isCompose says whether a document is a Compose file: it has services, a
// key no descriptor has.
func isCompose(root *yaml.Node) bool {
	if root.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "services" {
			return true
		}
	}
	return false
}

// composer rewrites a Compose tree into a descriptor tree.
type composer struct {
	w *walker
	// rename maps descriptor path prefixes to Compose paths, for messages.
	rename map[string]string
	// replicas are the deploy.replicas to check against x-hoist bounds.
	replicas []fixedReplicas
}

type fixedReplicas struct {
	app  int
	path string
	node *yaml.Node
	n    int
}

func parseCompose(w *walker, root *yaml.Node) (*Config, error) {
	c := &composer{w: w, rename: map[string]string{"apps": "services"}}
	doc := c.build(root)
	w.rename = c.renamePath
	w.extra = c.check
	if !w.walk(doc, reflect.TypeOf(Config{}), "") {
		return nil, w.sorted()
	}
	return w.finish(doc, Config{})
}

// renamePath turns a descriptor path into the Compose path it came from.
func (c *composer) renamePath(p string) string {
	best := ""
	for from := range c.rename {
		if (p == from || strings.HasPrefix(p, from+".") || strings.HasPrefix(p, from+"[")) && len(from) > len(best) {
			best = from
		}
	}
	if best == "" {
		return p
	}
	return c.rename[best] + p[len(best):]
}

func (c *composer) note(n *yaml.Node, path, msg string) {
	c.w.notes = append(c.w.notes, &Note{File: c.w.file, Line: n.Line, Col: n.Column, Path: path, Msg: msg})
}

// errAt reports a Compose problem directly (with its Compose path).
func (c *composer) errAt(n *yaml.Node, path, msg string) {
	c.w.errs = append(c.w.errs, &FieldError{File: c.w.file, Line: n.Line, Col: n.Column, Path: path, Msg: msg})
}

func (c *composer) build(root *yaml.Node) *yaml.Node {
	doc := newMapping(root)
	var services, xhoist *yaml.Node
	for _, kv := range c.pairs(root, "") {
		switch k := kv.key.Value; {
		case k == "services":
			services = kv.val
		case k == "x-hoist":
			xhoist = kv.val
		case strings.HasPrefix(k, "x-"):
			// Other tools' extensions and YAML anchors' homes.
		default:
			c.note(kv.key, k, "not used by hoist (ignored)")
		}
	}
	poolNames := c.top(doc, xhoist)
	apps := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: root.Line, Column: root.Column}
	if services != nil {
		if services.Kind != yaml.MappingNode {
			c.errAt(services, "services", "must be a mapping of services")
		} else {
			apps.Line, apps.Column = services.Line, services.Column
			for _, kv := range c.pairs(services, "services") {
				if app := c.service(kv.key, kv.val, len(apps.Content), poolNames); app != nil {
					apps.Content = append(apps.Content, app)
				}
			}
		}
	}
	addPair(doc, "apps", apps, apps)
	return doc
}

// top copies the top-level x-hoist sections and returns the pools' names.
func (c *composer) top(doc, xhoist *yaml.Node) []string {
	if xhoist == nil {
		return nil
	}
	if xhoist.Kind != yaml.MappingNode {
		c.errAt(xhoist, "x-hoist", "must be a mapping of fields")
		return nil
	}
	var pools []string
	for _, kv := range c.pairs(xhoist, "x-hoist") {
		k := kv.key.Value
		if !contains(composeTopKeys, k) {
			c.errAt(kv.key, join("x-hoist", k), "unknown field (known: "+strings.Join(composeTopKeys, ", ")+")")
			continue
		}
		c.rename[k] = "x-hoist." + k
		addPair(doc, k, kv.key, kv.val)
		if k == "pools" && kv.val.Kind == yaml.SequenceNode {
			for _, p := range kv.val.Content {
				if _, v := lookup(p, "name"); v != nil && v.Kind == yaml.ScalarNode {
					pools = append(pools, v.Value)
				}
			}
		}
	}
	return pools
}

// service rewrites one Compose service into an app, or returns nil for a
// service hoist does not scale.
func (c *composer) service(key, svc *yaml.Node, idx int, poolNames []string) *yaml.Node {
	name := key.Value
	sp := join("services", name)
	ap := fmt.Sprintf("apps[%d]", idx)
	if svc.Kind != yaml.MappingNode {
		c.errAt(svc, sp, "must be a mapping of fields")
		return nil
	}
	app := newMapping(key)
	c.rename[ap] = sp
	c.rename[ap+".name"] = sp
	addPair(app, "name", key, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name, Line: key.Line, Column: key.Column})
	var deploy, xh *yaml.Node
	fields := c.pairs(svc, sp)
	for _, kv := range fields {
		switch kv.key.Value {
		case "deploy":
			deploy = kv.val
		case "x-hoist":
			xh = kv.val
		}
	}
	if deploy != nil && deploy.Kind != yaml.MappingNode {
		c.errAt(deploy, sp+".deploy", "must be a mapping of fields")
		deploy = nil
	}
	if deploy != nil {
		if _, mode := lookup(deploy, "mode"); mode != nil && mode.Value != "replicated" {
			c.note(mode, sp+".deploy.mode", fmt.Sprintf("%q: hoist scales replicated services only; the service is not an app (ignored)", mode.Value))
			return nil
		}
	}
	labels := newMapping(key)
	for _, kv := range fields {
		k, v := kv.key.Value, kv.val
		kp := join(sp, k)
		switch k {
		case "image":
			c.rename[ap+".image"] = kp
			addPair(app, "image", kv.key, v)
		case "environment":
			c.rename[ap+".env"] = kp
			if env := c.environment(v, kp); env != nil {
				addPair(app, "env", kv.key, env)
			}
		case "command":
			c.rename[ap+".args"] = kp
			if args := c.command(v, kp); args != nil {
				addPair(app, "args", kv.key, args)
			}
		case "ports":
			c.rename[ap+".port"] = kp
			if port := c.ports(v, kp); port != nil {
				addPair(app, "port", kv.key, port)
			}
		case "networks":
			c.networks(v, kp, labels)
		case "deploy", "x-hoist":
		default:
			if !strings.HasPrefix(k, "x-") {
				c.note(kv.key, kp, "not used by hoist (ignored)")
			}
		}
	}
	var pools *yaml.Node
	if deploy != nil {
		pools = c.deploy(app, deploy, sp+".deploy", ap, labels, idx)
	}
	if len(labels.Content) > 0 {
		addPair(app, "labels", labels, labels)
		if _, ok := c.rename[ap+".labels"]; !ok {
			c.rename[ap+".labels"] = sp + ".networks"
		}
	}
	if xh != nil {
		if xh.Kind != yaml.MappingNode {
			c.errAt(xh, sp+".x-hoist", "must be a mapping of fields")
		} else {
			for _, kv := range c.pairs(xh, sp+".x-hoist") {
				k := kv.key.Value
				if !contains(composeAppKeys, k) {
					c.errAt(kv.key, join(sp+".x-hoist", k), "unknown field (known: "+strings.Join(composeAppKeys, ", ")+")")
					continue
				}
				// x-hoist wins over what Compose keys gave; its replica
				// bounds replace deploy.replicas, which must lie within.
				removePair(app, k)
				if k == "pools" {
					pools = nil
				}
				c.rename[ap+"."+k] = sp + ".x-hoist." + k
				addPair(app, k, kv.key, kv.val)
			}
		}
	}
	if pools != nil {
		addPair(app, "pools", pools, pools)
	} else if lookupPair(app, "pools") == nil && len(poolNames) == 1 {
		// One pool: the only place the service can run.
		addPair(app, "pools", key, &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: key.Line, Column: key.Column,
			Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: poolNames[0], Line: key.Line, Column: key.Column}}})
	}
	if _, ok := c.rename[ap+".pools"]; !ok {
		c.rename[ap+".pools"] = sp + ".x-hoist.pools"
	}
	return app
}

// deploy reads a service's deploy section; it returns the pools named by
// placement constraints (nil: none).
func (c *composer) deploy(app, deploy *yaml.Node, dp, ap string, labels *yaml.Node, idx int) *yaml.Node {
	var pools *yaml.Node
	for _, kv := range c.pairs(deploy, dp) {
		k, v := kv.key.Value, kv.val
		kp := join(dp, k)
		switch k {
		case "mode":
		case "replicas":
			c.rename[ap+".replicas"] = kp
			n, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || n < 0 {
				c.errAt(v, kp, fmt.Sprintf("must be a count of replicas, not %q", v.Value))
				continue
			}
			// Without x-hoist bounds, the count is fixed.
			r := newMapping(v)
			addPair(r, "min", v, v)
			addPair(r, "max", v, v)
			addPair(app, "replicas", kv.key, r)
			c.replicas = append(c.replicas, fixedReplicas{app: idx, path: kp, node: v, n: n})
		case "resources":
			c.rename[ap+".resources"] = kp
			if r := c.resources(v, kp); r != nil {
				addPair(app, "resources", kv.key, r)
			}
		case "placement":
			pools = c.placement(v, kp)
			if pools != nil {
				c.rename[ap+".pools"] = kp + ".constraints"
			}
		case "labels":
			c.rename[ap+".labels"] = kp
			c.stringMap(v, kp, labels)
		case "endpoint_mode":
			if v.Value == "vip" {
				addPair(labels, labelEndpoint, v, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "vip", Line: v.Line, Column: v.Column})
			}
		default:
			c.note(kv.key, kp, "not used by hoist (ignored)")
		}
	}
	return pools
}

// resources keeps cpus and memory of limits and reservations.
func (c *composer) resources(v *yaml.Node, rp string) *yaml.Node {
	if v.Kind != yaml.MappingNode {
		c.errAt(v, rp, "must be a mapping of fields")
		return nil
	}
	out := newMapping(v)
	for _, kv := range c.pairs(v, rp) {
		k := kv.key.Value
		kp := join(rp, k)
		if k != "limits" && k != "reservations" {
			c.note(kv.key, kp, "not used by hoist (ignored)")
			continue
		}
		if kv.val.Kind != yaml.MappingNode {
			c.errAt(kv.val, kp, "must be a mapping of fields")
			continue
		}
		shape := newMapping(kv.val)
		for _, f := range c.pairs(kv.val, kp) {
			if f.key.Value == "cpus" || f.key.Value == "memory" {
				addPair(shape, f.key.Value, f.key, f.val)
			} else {
				c.note(f.key, join(kp, f.key.Value), "not used by hoist (ignored)")
			}
		}
		addPair(out, k, kv.key, shape)
	}
	return out
}

// placement reads the pools from constraints on hoist's node label.
func (c *composer) placement(v *yaml.Node, pp string) *yaml.Node {
	if v.Kind != yaml.MappingNode {
		c.errAt(v, pp, "must be a mapping of fields")
		return nil
	}
	var pools *yaml.Node
	for _, kv := range c.pairs(v, pp) {
		kp := join(pp, kv.key.Value)
		if kv.key.Value != "constraints" {
			c.note(kv.key, kp, "not used by hoist, which places tasks by pool (ignored)")
			continue
		}
		if kv.val.Kind != yaml.SequenceNode {
			c.errAt(kv.val, kp, "must be a list")
			continue
		}
		for i, item := range kv.val.Content {
			ip := fmt.Sprintf("%s[%d]", kp, i)
			lhs, rhs, ok := strings.Cut(item.Value, "==")
			if item.Kind != yaml.ScalarNode || !ok || strings.TrimSpace(lhs) != nodePoolLabel {
				c.note(item, ip, "only "+nodePoolLabel+" == POOL is used by hoist (ignored)")
				continue
			}
			if pools == nil {
				pools = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: item.Line, Column: item.Column}
			}
			pools.Content = append(pools.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str",
				Value: strings.TrimSpace(rhs), Line: item.Line, Column: item.Column})
		}
	}
	return pools
}

// environment reads a list of NAME=value or a mapping of NAME: value.
func (c *composer) environment(v *yaml.Node, ep string) *yaml.Node {
	out := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: v.Line, Column: v.Column}
	add := func(at *yaml.Node, path, name, value string, hasValue bool) {
		if !hasValue {
			c.note(at, path, fmt.Sprintf("%q takes its value from the environment of docker stack deploy, which hoist does not have (ignored)", name))
			return
		}
		out.Content = append(out.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name + "=" + value, Line: at.Line, Column: at.Column})
	}
	switch v.Kind {
	case yaml.SequenceNode:
		for i, item := range v.Content {
			ip := fmt.Sprintf("%s[%d]", ep, i)
			if item.Kind != yaml.ScalarNode {
				c.errAt(item, ip, "must be NAME=value")
				continue
			}
			name, value, ok := strings.Cut(item.Value, "=")
			add(item, ip, name, value, ok)
		}
	case yaml.MappingNode:
		for _, kv := range c.pairs(v, ep) {
			if kv.val.Kind != yaml.ScalarNode {
				c.errAt(kv.val, join(ep, kv.key.Value), "must be a string, a number or a boolean")
				continue
			}
			add(kv.key, join(ep, kv.key.Value), kv.key.Value, kv.val.Value, kv.val.Tag != "!!null")
		}
	default:
		c.errAt(v, ep, "must be a list of NAME=value or a mapping")
		return nil
	}
	return out
}

// command reads a list of arguments, or a string split at spaces as a
// shell would without quotes.
func (c *composer) command(v *yaml.Node, cp string) *yaml.Node {
	switch {
	case v.Kind == yaml.SequenceNode:
		return v
	case v.Kind == yaml.ScalarNode && v.Tag != "!!null":
		if strings.ContainsAny(v.Value, `"'\$`) {
			c.errAt(v, cp, "quotes, escapes and variables need the list form: [\"arg 1\", \"arg2\"]")
			return nil
		}
		out := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: v.Line, Column: v.Column}
		for _, f := range strings.Fields(v.Value) {
			out.Content = append(out.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f, Line: v.Line, Column: v.Column})
		}
		return out
	}
	c.errAt(v, cp, "must be a list of arguments or a string")
	return nil
}

// ports takes the container (target) port of the first port as the app's
// port: where its balancer sends traffic and its metrics are scraped. hoist
// publishes no app port (a balancer does).
func (c *composer) ports(v *yaml.Node, pp string) *yaml.Node {
	if v.Kind != yaml.SequenceNode {
		c.errAt(v, pp, "must be a list")
		return nil
	}
	var port *yaml.Node
	for i, item := range v.Content {
		ip := fmt.Sprintf("%s[%d]", pp, i)
		target, published, ok := c.port(item, ip)
		if !ok {
			continue
		}
		if port != nil {
			c.note(item, ip, "hoist follows the first port only (ignored)")
			continue
		}
		port = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(target), Line: item.Line, Column: item.Column}
		if published {
			c.note(item, ip, "the published port is not used: hoist publishes an app through its balancer (x-hoist.balancer.port)")
		}
	}
	return port
}

// port reads one Compose port: "80", "8080:80", "127.0.0.1:8080:80/tcp" or
// {target: 80, published: 8080}.
func (c *composer) port(item *yaml.Node, ip string) (target int, published, ok bool) {
	var spec string
	switch item.Kind {
	case yaml.ScalarNode:
		spec = item.Value
		spec, proto, _ := strings.Cut(spec, "/")
		if proto != "" && proto != "tcp" {
			c.note(item, ip, fmt.Sprintf("%s port: hoist follows TCP ports only (ignored)", proto))
			return 0, false, false
		}
		parts := strings.Split(spec, ":")
		last := parts[len(parts)-1]
		n, err := strconv.Atoi(last)
		if err != nil || n < 1 || n > 65535 {
			c.errAt(item, ip, fmt.Sprintf("%q is not a port such as 80, 8080:80 or 127.0.0.1:8080:80/tcp", item.Value))
			return 0, false, false
		}
		return n, len(parts) > 1, true
	case yaml.MappingNode:
		_, t := lookup(item, "target")
		if t == nil {
			c.errAt(item, ip+".target", "is required")
			return 0, false, false
		}
		n, err := strconv.Atoi(t.Value)
		if err != nil || n < 1 || n > 65535 {
			c.errAt(t, ip+".target", fmt.Sprintf("must be a TCP port, not %q", t.Value))
			return 0, false, false
		}
		if _, p := lookup(item, "protocol"); p != nil && p.Value != "tcp" {
			c.note(item, ip, fmt.Sprintf("%s port: hoist follows TCP ports only (ignored)", p.Value))
			return 0, false, false
		}
		_, pub := lookup(item, "published")
		return n, pub != nil, true
	}
	c.errAt(item, ip, "must be a port such as 8080:80 or a mapping with target")
	return 0, false, false
}

// networks attaches the app to its first network (hoist's Swarm runtime
// attaches a service to one overlay network).
func (c *composer) networks(v *yaml.Node, np string, labels *yaml.Node) {
	var names []*yaml.Node
	switch v.Kind {
	case yaml.SequenceNode:
		names = v.Content
	case yaml.MappingNode:
		for _, kv := range c.pairs(v, np) {
			names = append(names, kv.key)
		}
	default:
		c.errAt(v, np, "must be a list of networks or a mapping")
		return
	}
	for i, n := range names {
		if i > 0 {
			c.note(n, fmt.Sprintf("%s[%d]", np, i), "hoist attaches a service to its first network only (ignored)")
			continue
		}
		if n.Kind != yaml.ScalarNode || n.Value == "" {
			c.errAt(n, np, "must name a network")
			continue
		}
		addPair(labels, labelNetwork, n, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: n.Value, Line: n.Line, Column: n.Column})
	}
}

// stringMap reads Compose labels (a mapping, or a list of key=value) into m.
func (c *composer) stringMap(v *yaml.Node, lp string, m *yaml.Node) {
	switch v.Kind {
	case yaml.MappingNode:
		for _, kv := range c.pairs(v, lp) {
			if kv.val.Kind != yaml.ScalarNode {
				c.errAt(kv.val, join(lp, kv.key.Value), "must be a string")
				continue
			}
			val := *kv.val
			val.Tag = "!!str"
			addPair(m, kv.key.Value, kv.key, &val)
		}
	case yaml.SequenceNode:
		for i, item := range v.Content {
			k, val, _ := strings.Cut(item.Value, "=")
			if item.Kind != yaml.ScalarNode || k == "" {
				c.errAt(item, fmt.Sprintf("%s[%d]", lp, i), "must be key=value")
				continue
			}
			addPair(m, k, item, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val, Line: item.Line, Column: item.Column})
		}
	default:
		c.errAt(v, lp, "must be a mapping or a list of key=value")
	}
}

// check adds what needs the decoded config: deploy.replicas must lie within
// the x-hoist bounds that replaced it.
func (c *composer) check(cfg *Config) {
	for _, r := range c.replicas {
		if r.app >= len(cfg.Apps) {
			continue
		}
		b := cfg.Apps[r.app].Replicas
		if r.n < b.Min || r.n > b.Max {
			c.errAt(r.node, r.path, fmt.Sprintf("%d is outside x-hoist.replicas [%d, %d]", r.n, b.Min, b.Max))
		}
	}
}

type pair struct{ key, val *yaml.Node }

// pairs lists a mapping's fields, resolving aliases and merge keys (<<:
// *defaults is common in stack files); a field given twice is an error.
func (c *composer) pairs(n *yaml.Node, path string) []pair {
	n = c.deref(n, path)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var out []pair
	seen := map[string]bool{}
	var merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], c.deref(n.Content[i+1], path)
		if v == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			c.errAt(k, path, "keys must be plain strings")
			continue
		}
		if k.Value == "<<" {
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, s := range srcs {
				if s = c.deref(s, path); s != nil && s.Kind == yaml.MappingNode {
					merged = append(merged, c.pairs(s, path)...)
				} else {
					c.errAt(k, path, "<< must merge a mapping")
				}
			}
			continue
		}
		if seen[k.Value] {
			c.errAt(k, join(path, k.Value), "field given twice")
			continue
		}
		seen[k.Value] = true
		out = append(out, pair{k, v})
	}
	// Merged fields come after, and only where the mapping has none.
	for _, p := range merged {
		if !seen[p.key.Value] {
			seen[p.key.Value] = true
			out = append(out, p)
		}
	}
	return out
}

// deref follows an alias within the walker's budget.
func (c *composer) deref(n *yaml.Node, path string) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		c.w.aliases++
		if c.w.aliases > maxAliases {
			if c.w.aliases == maxAliases+1 {
				c.errAt(n, path, "too many YAML aliases")
			}
			return nil
		}
		n = n.Alias
	}
	return n
}

func newMapping(at *yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: at.Line, Column: at.Column}
}

// addPair adds key: val, the key placed at keyAt.
func addPair(m *yaml.Node, key string, keyAt, val *yaml.Node) {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key, Line: keyAt.Line, Column: keyAt.Column}, val)
}

func lookupPair(m *yaml.Node, key string) *yaml.Node {
	_, v := lookup(m, key)
	return v
}

func lookup(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

func removePair(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i:i], m.Content[i+2:]...)
			return
		}
	}
}

// sortedNotes orders notes by position.
func sortedNotes(ns []*Note) []*Note {
	sort.SliceStable(ns, func(i, j int) bool {
		if ns[i].Line != ns[j].Line {
			return ns[i].Line < ns[j].Line
		}
		return ns[i].Col < ns[j].Col
	})
	return ns
}
