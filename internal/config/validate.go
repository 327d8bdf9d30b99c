package config

import (
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Defaults applied by SetDefaults.
const (
	DefaultInterval       = 10 * time.Second
	DefaultDrainTimeout   = 10 * time.Minute
	DefaultBootTimeout    = 10 * time.Minute
	DefaultBootTime       = 60 * time.Second
	DefaultScaleDownFor   = 5 * time.Minute
	DefaultScaleDownBelow = 0.5
	DefaultPoolCooldown   = 5 * time.Minute
	DefaultTolerance      = 0.1
	DefaultDownStabilize  = 5 * time.Minute
	DefaultRatePeriod     = 15 * time.Second
	DefaultLatencySLO     = 500 * time.Millisecond
	DefaultCPUPerRequest  = 20 * time.Millisecond
	DefaultQueue          = 100
	DefaultContainerStart = 3 * time.Second
	DefaultSimStart       = "2026-01-05T00:00:00Z"
)

// Anomaly responses (App.OnAnomaly).
const (
	OnAnomalyNone  = ""
	OnAnomalyHold  = "hold_scale_up"
	OnAnomalyAlert = "alert_only"
)

// Metrics built into hoist (the collector and the simulator provide the first
// four; an app's balancer the lb_ ones).
var BuiltinMetrics = []string{"cpu", "memory", "rps", "latency_p95", "net_rx", "net_tx", "lb_rps", "lb_connections", "lb_queue", "lb_latency"}

// BalancerMetrics are the built-in metrics read from an app's balancer
// (HAProxy's stats, docs/balancer.md); only the real runtime has them.
var BalancerMetrics = []string{"lb_rps", "lb_connections", "lb_queue", "lb_latency"}

// Providers known to hoist.
var Providers = []string{"sim", "local", "command", "openstack", "ec2"}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// appNameRE also takes '_': `docker stack deploy` names a stack's services
// STACK_SERVICE, and an app is its service. Everywhere an app's name goes
// takes it: Swarm service, network and config names, label and metric label
// values, HAProxy proxy and server names, Docker's DNS (tasks.NAME), rule
// file names, and URLs (path-escaped).
var appNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$`)

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Weekday parses "mon".."sun".
func Weekday(s string) (time.Weekday, bool) {
	d, ok := weekdays[strings.ToLower(s)]
	return d, ok
}

// SetDefaults fills every unset field that has a default. It is idempotent.
func (c *Config) SetDefaults() {
	if c.Controller.Interval == 0 {
		c.Controller.Interval = Duration(DefaultInterval)
	}
	if c.Controller.DrainTimeout == 0 {
		c.Controller.DrainTimeout = Duration(DefaultDrainTimeout)
	}
	if c.Controller.BootTimeout == 0 {
		c.Controller.BootTimeout = Duration(DefaultBootTimeout)
	}
	if c.Controller.Anomaly.Detector == "" {
		c.Controller.Anomaly.Detector = "default"
	}
	if c.Controller.Anomaly.Hold == 0 {
		c.Controller.Anomaly.Hold = Duration(5 * time.Minute)
	}
	if c.Controller.Anomaly.Threshold == 0 {
		c.Controller.Anomaly.Threshold = 0.5
	}
	if c.Sim.Start == "" {
		c.Sim.Start = DefaultSimStart
	}
	if c.Sim.ContainerStart == 0 {
		c.Sim.ContainerStart = Duration(DefaultContainerStart)
	}
	if c.Sim.Duration == 0 {
		c.Sim.Duration = Duration(time.Hour)
	}
	for i := range c.Pools {
		c.Pools[i].SetDefaults()
	}
	for i := range c.Apps {
		c.Apps[i].SetDefaults()
	}
	c.Prometheus.SetDefaults()
}

// SetDefaults fills a pool's unset fields.
func (p *Pool) SetDefaults() {
	if p.Provider == "" {
		p.Provider = "sim"
	}
	if p.BootTime == 0 && p.Provider == "sim" {
		p.BootTime = Duration(DefaultBootTime)
	}
	if p.ScaleDown.Below == 0 {
		p.ScaleDown.Below = DefaultScaleDownBelow
	}
	if p.ScaleDown.For == 0 {
		p.ScaleDown.For = Duration(DefaultScaleDownFor)
	}
	if p.Cooldown == 0 {
		p.Cooldown = Duration(DefaultPoolCooldown)
	}
	if p.Alert != nil {
		p.Alert.setDefaults(p)
	}
}

// SetDefaults fills an app's unset fields.
func (a *App) SetDefaults() {
	if a.SLO.LatencyP95 == 0 {
		a.SLO.LatencyP95 = Duration(DefaultLatencySLO)
	}
	if a.Replicas.Min == 0 {
		a.Replicas.Min = 1
	}
	if a.Replicas.Max == 0 {
		a.Replicas.Max = a.Replicas.Min
	}
	if a.Load != nil {
		if a.Load.CPUPerRequest == 0 {
			a.Load.CPUPerRequest = Duration(DefaultCPUPerRequest)
		}
		if a.Load.Queue == 0 {
			a.Load.Queue = DefaultQueue
		}
	}
	if b := a.Balancer; b != nil {
		if b.Algorithm == "" {
			b.Algorithm = "leastconn"
		}
		if b.Port == 0 {
			b.Port = 80
		}
		if b.StatsPort == 0 {
			b.StatsPort = 8404
		}
		// The balancer's own app takes the defaults of any app.
		own := App{Replicas: b.Replicas, Policies: b.Policies}
		own.SetDefaults()
		b.Replicas, b.Policies = own.Replicas, own.Policies
	}
	for i := range a.Policies {
		p := &a.Policies[i]
		switch p.Type {
		case PolicyTarget:
			if p.Tolerance == nil {
				t := DefaultTolerance
				p.Tolerance = &t
			}
			if p.ScaleUp == nil {
				// Kubernetes HPA's default: double or add 4 pods per 15 s, no stabilisation.
				zero := Duration(0)
				p.ScaleUp = &Behavior{Stabilization: &zero, MaxPercent: 100, MaxReplicas: 4, Period: Duration(DefaultRatePeriod)}
			}
			if p.ScaleDown == nil {
				d := Duration(DefaultDownStabilize)
				p.ScaleDown = &Behavior{Stabilization: &d, MaxPercent: 100, Period: Duration(DefaultRatePeriod)}
			}
			for _, b := range []*Behavior{p.ScaleUp, p.ScaleDown} {
				if b.Period == 0 {
					b.Period = Duration(DefaultRatePeriod)
				}
				if b.Stabilization == nil {
					zero := Duration(0)
					b.Stabilization = &zero
				}
			}
		case PolicyThreshold:
			stepDefaults(&p.StepUp, &p.StepDown, &p.DownFor, p.For)
		case PolicySchedule:
			if p.Timezone == "" {
				p.Timezone = "UTC"
			}
			// An unknown zone stays nil; validation reports it.
			if loc, err := time.LoadLocation(p.Timezone); err == nil {
				p.Location = loc
			}
		case PolicyAlert:
			p.setAlertDefaults()
		}
	}
}

// stepDefaults fills the fields every above/below rule shares (threshold
// policies, app and pool alerts): steps of one, and the same duration down as up.
func stepDefaults(up, down *int, downFor *Duration, forD Duration) {
	if *up == 0 {
		*up = 1
	}
	if *down == 0 {
		*down = 1
	}
	if *downFor == 0 {
		*downFor = forD
	}
}

// problem is a semantic error at a path.
type problem struct {
	path string
	msg  string
	// also are the other fields the problem is about (the max of a min that
	// is above it): an error already reported on one of them explains it.
	also []string
}

type checker struct{ probs []problem }

func (c *checker) add(path, format string, args ...any) {
	c.probs = append(c.probs, problem{path: path, msg: fmt.Sprintf(format, args...)})
}

// addRel adds a problem that compares path with the fields of also.
func (c *checker) addRel(path string, also []string, format string, args ...any) {
	c.probs = append(c.probs, problem{path: path, msg: fmt.Sprintf(format, args...), also: also})
}

// Validate checks a descriptor built in code (or after SetDefaults); errors
// carry the field's path but no position.
func (c *Config) Validate() error {
	probs := c.check()
	if len(probs) == 0 {
		return nil
	}
	errs := make(Errors, len(probs))
	for i, p := range probs {
		errs[i] = &FieldError{File: c.File, Path: p.path, Msg: p.msg}
	}
	return errs
}

func (c *Config) check() []problem {
	var ck checker
	checkFinite(&ck, reflect.ValueOf(c).Elem(), "")
	if c.Controller.Interval.D() < 100*time.Millisecond {
		ck.add("controller.interval", "must be at least 100ms")
	}
	if t := c.Controller.Anomaly.Threshold; t <= 0 || t > 1 {
		ck.add("controller.anomaly.threshold", "must be in (0, 1]")
	}
	c.Controller.Anomaly.checkStreams(&ck)
	if _, err := time.Parse(time.RFC3339, c.Sim.Start); err != nil {
		ck.add("sim.start", "must be an RFC 3339 time such as %s", DefaultSimStart)
	}
	if len(c.Pools) == 0 {
		ck.add("pools", "at least one pool is required")
	}
	pools := map[string]*Pool{}
	for i := range c.Pools {
		p := &c.Pools[i]
		path := fmt.Sprintf("pools[%d]", i)
		p.check(&ck, path)
		if p.Name != "" {
			if _, dup := pools[p.Name]; dup {
				ck.add(path+".name", "pool %q is declared twice", p.Name)
			}
			pools[p.Name] = p
		}
	}
	c.Prometheus.check(&ck, "prometheus")
	apps := map[string]bool{}
	for i := range c.Apps {
		a := &c.Apps[i]
		path := fmt.Sprintf("apps[%d]", i)
		a.check(&ck, path, pools)
		for j := range a.Policies {
			a.Policies[j].checkSeasonBucket(&ck, fmt.Sprintf("%s.policies[%d]", path, j), c.Controller.Interval.D())
		}
		if a.Name != "" {
			if apps[a.Name] {
				ck.add(path+".name", "app %q is declared twice", a.Name)
			}
			apps[a.Name] = true
		}
	}
	c.checkBalancers(&ck, apps)
	return ck.probs
}

func (p *Pool) check(ck *checker, path string) {
	switch {
	case p.Name == "":
		ck.add(path+".name", "is required")
	case !nameRE.MatchString(p.Name):
		ck.add(path+".name", "%q must be lowercase letters, digits and '-'", p.Name)
	}
	if !contains(Providers, p.Provider) {
		ck.add(path+".provider", "%q is not a provider (one of %s)", p.Provider, strings.Join(Providers, ", "))
	}
	if p.Min < 0 {
		ck.add(path+".min", "must be >= 0")
	}
	if p.Max < 1 {
		ck.add(path+".max", "must be >= 1")
	}
	if p.Min > p.Max && p.Max >= 1 {
		ck.addRel(path+".min", []string{path + ".max"}, "min %d is greater than max %d", p.Min, p.Max)
	}
	if p.Machine.CPUs <= 0 {
		ck.add(path+".machine.cpus", "must be > 0")
	}
	if p.Machine.Memory <= 0 {
		ck.add(path+".machine.memory", "must be > 0")
	}
	if p.ScaleDown.Below <= 0 || p.ScaleDown.Below > 1 {
		ck.add(path+".scale_down.below", "must be a share in (0, 1]")
	}
	if c := p.ScaleDown.Consolidate; c != nil && (*c < 0 || *c > 1) {
		ck.add(path+".scale_down.consolidate", "must be a share in [0, 1] (0: off)")
	}
	if p.Alert != nil {
		p.Alert.check(ck, path+".alert")
	}
	p.checkProviderBlocks(ck, path)
	p.checkClouds(ck, path)
	if p.Provider == "command" {
		if p.Command == nil {
			ck.add(path+".command", "is required for provider command")
		} else {
			if p.Command.Create == "" {
				ck.add(path+".command.create", "is required")
			}
			if p.Command.Destroy == "" {
				ck.add(path+".command.destroy", "is required")
			}
			if p.Command.List == "" {
				ck.add(path+".command.list", "is required")
			}
			if p.Command.Retries < 0 {
				ck.add(path+".command.retries", "must be >= 0")
			}
		}
	}
}

// checkProviderBlocks refuses a provider's own block (local, command,
// openstack, ec2) in a pool of another provider.
func (p *Pool) checkProviderBlocks(ck *checker, path string) {
	for _, b := range []struct {
		provider string
		set      bool
	}{{"local", p.Local != nil}, {"command", p.Command != nil}, {"openstack", p.OpenStack != nil}, {"ec2", p.EC2 != nil}} {
		if b.set && p.Provider != b.provider {
			ck.add(path+"."+b.provider, "only for provider %s", b.provider)
		}
	}
}

// checkClouds checks the openstack and ec2 blocks: each is required for its
// provider and names the machine type and image.
func (p *Pool) checkClouds(ck *checker, path string) {
	if o := p.OpenStack; o == nil {
		if p.Provider == "openstack" {
			ck.add(path+".openstack", "is required for provider openstack (flavor and image at least)")
		}
	} else {
		if o.Flavor == "" {
			ck.add(path+".openstack.flavor", "is required (a flavor ID or name)")
		}
		if o.Image == "" {
			ck.add(path+".openstack.image", "is required (an image ID)")
		}
		checkGroups(ck, path+".openstack.security_groups", o.SecurityGroups)
		if o.Timeout < 0 {
			ck.add(path+".openstack.timeout", "must be >= 0")
		}
	}
	if e := p.EC2; e == nil {
		if p.Provider == "ec2" {
			ck.add(path+".ec2", "is required for provider ec2 (instance_type and ami at least)")
		}
	} else {
		if e.InstanceType == "" {
			ck.add(path+".ec2.instance_type", "is required (e.g. t3.medium)")
		}
		if e.AMI == "" {
			ck.add(path+".ec2.ami", "is required (an AMI ID, ami-...)")
		}
		checkGroups(ck, path+".ec2.security_groups", e.SecurityGroups)
		if e.Endpoint != "" {
			if u, err := url.Parse(e.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				ck.add(path+".ec2.endpoint", "%q is not an http(s) URL", e.Endpoint)
			}
		}
		if e.Timeout < 0 {
			ck.add(path+".ec2.timeout", "must be >= 0")
		}
	}
}

func checkGroups(ck *checker, path string, groups []string) {
	seen := map[string]bool{}
	for i, g := range groups {
		switch {
		case g == "":
			ck.add(fmt.Sprintf("%s[%d]", path, i), "is empty")
		case seen[g]:
			ck.add(fmt.Sprintf("%s[%d]", path, i), "%q is listed twice", g)
		}
		seen[g] = true
	}
}

// Check validates one app against the pools it may use; the API uses it for
// apps deployed at run time. Paths are relative to the app ("replicas.min").
func (a *App) Check(pools map[string]*Pool) []error {
	var ck checker
	checkFinite(&ck, reflect.ValueOf(a).Elem(), "")
	a.check(&ck, "", pools)
	out := make([]error, len(ck.probs))
	for i, p := range ck.probs {
		out[i] = &FieldError{Path: strings.TrimPrefix(p.path, "."), Msg: p.msg}
	}
	return out
}

func (a *App) check(ck *checker, path string, pools map[string]*Pool) {
	switch {
	case a.Name == "":
		ck.add(path+".name", "is required")
	case !appNameRE.MatchString(a.Name):
		ck.add(path+".name", "%q must be lowercase letters, digits, '-' and '_' (as a stack's service: stack_web)", a.Name)
	}
	if a.Image == "" {
		ck.add(path+".image", "is required: the Docker image of the service, such as nginx:1.27")
	} else if err := CheckImage(a.Image); err != nil {
		ck.add(path+".image", "%v", err)
	}
	if len(a.Pools) == 0 {
		ck.add(path+".pools", "at least one pool is required")
	}
	for j, name := range a.Pools {
		if _, ok := pools[name]; !ok {
			ck.add(fmt.Sprintf("%s.pools[%d]", path, j), "no pool named %q", name)
		}
	}
	if b := a.SLO.Budget; b != nil && (*b < 0 || *b >= 0.5) {
		ck.add(path+".slo.budget", "must be a share in [0, 0.5) of the ticks (0: no adaptation), not %g", *b)
	}
	if a.Replicas.Min < 1 {
		ck.add(path+".replicas.min", "must be >= 1")
	}
	if a.Replicas.Max < a.Replicas.Min {
		ck.addRel(path+".replicas.max", []string{path + ".replicas.min"}, "max %d is less than min %d", a.Replicas.Max, a.Replicas.Min)
	}
	r := a.Resources
	for _, f := range []struct {
		name string
		v    float64
	}{{"limits.cpus", r.Limits.CPUs}, {"reservations.cpus", r.Reservations.CPUs}} {
		if f.v < 0 {
			ck.add(path+".resources."+f.name, "must be >= 0")
		}
	}
	if r.Limits.CPUs > 0 && r.Reservations.CPUs > r.Limits.CPUs {
		ck.addRel(path+".resources.reservations.cpus", []string{path + ".resources.limits"}, "reservation %g is above the limit %g", r.Reservations.CPUs, r.Limits.CPUs)
	}
	if r.Limits.Memory > 0 && r.Reservations.Memory > r.Limits.Memory {
		ck.addRel(path+".resources.reservations.memory", []string{path + ".resources.limits"}, "reservation %s is above the limit %s", r.Reservations.Memory, r.Limits.Memory)
	}
	// A reservation no machine can hold would leave tasks pending forever.
	// Pools without a valid machine have an error of their own.
	fitsSome, shaped := false, 0
	for _, name := range a.Pools {
		p, ok := pools[name]
		if !ok || p.Machine.CPUs <= 0 || p.Machine.Memory <= 0 {
			continue
		}
		shaped++
		if p.Machine.CPUs >= r.Reservations.CPUs && p.Machine.Memory >= r.Reservations.Memory {
			fitsSome = true
		}
	}
	if !fitsSome && shaped > 0 {
		ck.add(path+".resources.reservations", "%g CPUs / %s fit no machine of pools %s", r.Reservations.CPUs, r.Reservations.Memory, strings.Join(a.Pools, ", "))
	}
	if a.Port < 0 || a.Port > 65535 {
		ck.add(path+".port", "must be a TCP port")
	}
	switch a.OnAnomaly {
	case OnAnomalyNone, OnAnomalyHold, OnAnomalyAlert:
	case OnAnomalyThrottle:
		if a.Throttle == nil {
			ck.add(path+".throttle", "is required with on_anomaly: throttle (such as {rate: 3Mbit, for: 10m})")
		}
	default:
		ck.add(path+".on_anomaly", "%q is not one of hold_scale_up, alert_only, throttle", a.OnAnomaly)
	}
	if a.Throttle != nil {
		if field, problem := CheckThrottle(*a.Throttle); field != "" {
			ck.add(path+".throttle."+field, "%s", problem)
		}
	}
	if a.Balancer != nil {
		switch a.Balancer.Algorithm {
		case "leastconn", "roundrobin", "source", "random":
		default:
			ck.add(path+".balancer.algorithm", "%q is not one of leastconn, roundrobin, source, random", a.Balancer.Algorithm)
		}
		if a.Balancer.Port < 0 || a.Balancer.Port > 65535 {
			ck.add(path+".balancer.port", "must be a TCP port")
		}
		a.Balancer.check(ck, path, a, pools)
	}
	if a.Load != nil {
		a.Load.check(ck, path+".load")
	}
	named := map[string]bool{}
	for j := range a.Policies {
		pp := fmt.Sprintf("%s.policies[%d]", path, j)
		a.Policies[j].check(ck, pp)
		switch n := a.Policies[j].Name; {
		case n == "":
		case !policyNameRE.MatchString(n):
			ck.add(pp+".name", "%q must be lowercase letters, digits, '-' and '_', starting with a letter", n)
		case named[n]:
			ck.add(pp+".name", "policy %q is named twice in this app", n)
		default:
			named[n] = true
		}
	}
}

// policyNameRE: a policy's name starts with a letter, so that policies[cpu]
// never reads as a position.
var policyNameRE = regexp.MustCompile(`^[a-z]([a-z0-9_-]{0,61}[a-z0-9])?$`)

// PolicyLabel is how messages name an app's policy i: policies[NAME] when
// it has a name, else policies[i].
func PolicyLabel(i int, name string) string {
	if name != "" {
		return "policies[" + name + "]"
	}
	return "policies[" + strconv.Itoa(i) + "]"
}

// Label is how messages name the policy, the app's i-th.
func (p *Policy) Label(i int) string { return PolicyLabel(i, p.Name) }

func (l *Workload) check(ck *checker, path string) {
	if l.Queue < 0 {
		ck.add(path+".queue", "must be >= 0")
	}
	if l.Pattern != nil && l.Trace != nil {
		ck.add(path+".trace", "give either pattern or trace, not both")
	}
	if p := l.Pattern; p != nil {
		switch p.Shape {
		case ShapeConstant, ShapeStep, ShapeRamp, ShapeSine, ShapeSpike:
		default:
			ck.add(path+".pattern.shape", "%q is not one of constant, step, ramp, sine, spike", p.Shape)
		}
		if p.Base < 0 {
			ck.add(path+".pattern.base", "must be >= 0")
		}
		if p.Peak < 0 {
			ck.add(path+".pattern.peak", "must be >= 0")
		}
		if (p.Shape == ShapeSine || p.Shape == ShapeRamp || p.Shape == ShapeSpike) && p.Duration == 0 {
			ck.add(path+".pattern.duration", "must be > 0 for a %s", p.Shape)
		}
	}
	if t := l.Trace; t != nil {
		if t.File == "" {
			ck.add(path+".trace.file", "is required")
		}
		if t.Peak < 0 {
			ck.add(path+".trace.peak", "must be >= 0")
		}
	}
}

func (p *Policy) check(ck *checker, path string) {
	needsMetric := func() {
		switch {
		case p.Metric != "" && p.Query != "":
			ck.add(path+".query", "give either metric or query, not both")
		case p.Metric == "" && p.Query == "":
			ck.add(path+".metric", "is required (one of %s), or a query", strings.Join(BuiltinMetrics, ", "))
		case p.Metric != "" && !contains(BuiltinMetrics, p.Metric):
			ck.add(path+".metric", "%q is not a built-in metric (one of %s)", p.Metric, strings.Join(BuiltinMetrics, ", "))
		}
	}
	notFor := func(field string, set bool) {
		if set {
			ck.add(path+"."+field, "is not used by a %s policy", p.Type)
		}
	}
	if p.Type != PolicyPredictive && p.Type != "" {
		notFor("seasons", p.Seasons != nil)
		notFor("season_bucket", p.SeasonBucket != 0)
		notFor("keep_window", p.KeepWindow != 0)
	}
	switch p.Type {
	case PolicyTarget:
		needsMetric()
		if p.Target <= 0 {
			ck.add(path+".target", "must be > 0")
		}
		if p.Tolerance != nil && (*p.Tolerance < 0 || *p.Tolerance >= 1) {
			ck.add(path+".tolerance", "must be in [0, 1)")
		}
		for name, b := range map[string]*Behavior{"scale_up": p.ScaleUp, "scale_down": p.ScaleDown} {
			if b == nil {
				continue
			}
			if b.MaxPercent < 0 {
				ck.add(path+"."+name+".max_percent", "must be >= 0")
			}
			if b.MaxReplicas < 0 {
				ck.add(path+"."+name+".max_replicas", "must be >= 0")
			}
			if b.MaxPercent == 0 && b.MaxReplicas == 0 {
				ck.add(path+"."+name, "set max_percent or max_replicas: this forbids every change")
			}
		}
		notFor("upper", p.Upper != 0)
		notFor("lower", p.Lower != nil)
		notFor("windows", len(p.Windows) > 0)
	case PolicyThreshold:
		needsMetric()
		if p.Lower == nil {
			ck.add(path+".lower", "is required")
		} else if *p.Lower >= p.Upper {
			ck.addRel(path+".lower", []string{path + ".upper"}, "lower %g must be below upper %g", *p.Lower, p.Upper)
		}
		if p.StepUp < 0 {
			ck.add(path+".step_up", "must be >= 1")
		}
		if p.StepDown < 0 {
			ck.add(path+".step_down", "must be >= 1")
		}
		notFor("target", p.Target != 0)
		notFor("windows", len(p.Windows) > 0)
	case PolicySchedule:
		if _, err := time.LoadLocation(p.Timezone); err != nil {
			ck.add(path+".timezone", "unknown time zone %q", p.Timezone)
		}
		if len(p.Windows) == 0 {
			ck.add(path+".windows", "at least one window is required")
		}
		for k, w := range p.Windows {
			wp := fmt.Sprintf("%s.windows[%d]", path, k)
			for d, day := range w.Days {
				if _, ok := Weekday(day); !ok {
					ck.add(fmt.Sprintf("%s.days[%d]", wp, d), "%q is not a day (mon..sun)", day)
				}
			}
			if _, ok := ClockMinutes(w.Start); !ok {
				ck.add(wp+".start", "must be HH:MM")
			}
			if _, ok := ClockMinutes(w.End); !ok {
				ck.add(wp+".end", "must be HH:MM")
			}
			if w.Min == nil && w.Max == nil {
				ck.add(wp, "set min, max or both")
			}
			if w.Min != nil && *w.Min < 1 {
				ck.add(wp+".min", "must be >= 1")
			}
			if w.Min != nil && w.Max != nil && *w.Min > *w.Max {
				ck.addRel(wp+".min", []string{wp + ".max"}, "min %d is greater than max %d", *w.Min, *w.Max)
			}
		}
		notFor("metric", p.Metric != "")
		notFor("query", p.Query != "")
		notFor("target", p.Target != 0)
	case PolicyAlert:
		needsMetric()
		if contains(BalancerMetrics, p.Metric) {
			ck.add(path+".metric", "%q has no Prometheus series for alert rules: use a target or threshold policy", p.Metric)
		}
		p.checkAlert(ck, path)
	case PolicyPredictive:
		p.checkPredictive(ck, path)
	case "":
		ck.add(path+".type", "is required (target, threshold, schedule, alert or predictive)")
	default:
		ck.add(path+".type", "%q is not one of target, threshold, schedule, alert, predictive", p.Type)
	}
}

// ClockMinutes parses "HH:MM" into minutes after midnight.
func ClockMinutes(s string) (int, bool) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CheckApp validates app as if it were one of c's apps (replacing the app of
// the same name, or added after the others), with the same rules as a
// descriptor's: its own fields, its pools, and what involves several apps (a
// balancer's app name, ports published on a pool). The API checks the apps it
// registers with it. The app's defaults are applied to a copy; on failure the
// error is an Errors whose paths are relative to the app ("replicas.max");
// a clash with another app is reported on the app's name.
func (c *Config) CheckApp(app App) error {
	base := *c
	base.Apps = append([]App(nil), c.Apps...)
	idx := len(base.Apps)
	for i := range base.Apps {
		if base.Apps[i].Name == app.Name && app.Name != "" {
			idx = i
		}
	}
	before := map[string]bool{}
	for _, p := range base.check() {
		before[p.path+"\x00"+p.msg] = true
	}
	with := base
	with.Apps = append([]App(nil), base.Apps...)
	app = cloneApp(app)
	app.SetDefaults()
	if idx == len(with.Apps) {
		with.Apps = append(with.Apps, app)
	} else {
		with.Apps[idx] = app
	}
	prefix := fmt.Sprintf("apps[%d]", idx)
	var errs Errors
	for _, p := range with.check() {
		switch {
		case p.path == prefix:
			errs = append(errs, &FieldError{File: c.File, Msg: p.msg})
		case strings.HasPrefix(p.path, prefix+"."):
			errs = append(errs, &FieldError{File: c.File, Path: strings.TrimPrefix(p.path, prefix+"."), Msg: p.msg})
		case before[p.path+"\x00"+p.msg]:
			// The descriptor's own problem, not this app's.
		default:
			other := p.path
			var i int
			if _, err := fmt.Sscanf(p.path, "apps[%d]", &i); err == nil && i < len(with.Apps) {
				other = "app " + with.Apps[i].Name + " (" + p.path + ")"
			}
			errs = append(errs, &FieldError{File: c.File, Path: "name", Msg: fmt.Sprintf("clashes with %s: %s", other, p.msg)})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// cloneApp copies what SetDefaults writes through pointers, so checking an
// app never changes the caller's.
func cloneApp(a App) App {
	a.Policies = clonePolicies(a.Policies)
	if a.Balancer != nil {
		b := *a.Balancer
		b.Policies = clonePolicies(b.Policies)
		a.Balancer = &b
	}
	if a.Load != nil {
		l := *a.Load
		a.Load = &l
	}
	return a
}

func clonePolicies(ps []Policy) []Policy {
	out := append([]Policy(nil), ps...)
	for i := range out {
		for _, b := range []**Behavior{&out[i].ScaleUp, &out[i].ScaleDown} {
			if *b != nil {
				c := **b
				*b = &c
			}
		}
	}
	return out
}
