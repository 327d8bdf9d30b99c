package swarm

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
)

// Service labels for opting in without a descriptor entry, as Swarm users
// expect (docs/swarm.md lists them with examples).
const (
	LabelEnable       = "hoist.enable"         // "true" to let hoist scale the service
	LabelMin          = "hoist.min"            // fewest replicas (default 1)
	LabelMax          = "hoist.max"            // most replicas (default: min)
	LabelPool         = "hoist.pool"           // pools, comma separated (default: from the placement constraint)
	LabelCPUTarget    = "hoist.cpu.target"     // target policy on cpu, percent of the limit (or reservation)
	LabelMemTarget    = "hoist.memory.target"  // target policy on memory, percent
	LabelRPSTarget    = "hoist.rps.target"     // target policy on requests/s per replica
	LabelLatTarget    = "hoist.latency.target" // target policy on latency_p95, milliseconds
	LabelWindow       = "hoist.window"         // averaging window of the policies (default: the tick interval)
	LabelCooldownUp   = "hoist.cooldown.up"    // scale-up cooldown (default 0s)
	LabelCooldownDown = "hoist.cooldown.down"  // scale-down cooldown (default 0s)
)

// The labels of docker-swarm-autoscaler (jcwimer/docker-swarm-autoscaler and
// its forks), read too so that a cluster switches to hoist without
// relabelling. Such a service without a hoist.*.target label gets that
// autoscaler's rule: one replica more above 85 % CPU, one fewer below 25 %.
const (
	LabelSwarmAutoscaler = "swarm.autoscaler"         // "true": same as hoist.enable
	LabelSwarmMinimum    = "swarm.autoscaler.minimum" // same as hoist.min
	LabelSwarmMaximum    = "swarm.autoscaler.maximum" // same as hoist.max
	SwarmAutoscalerUpper = 85.0
	SwarmAutoscalerLower = 25.0
)

// Bounds on what labels may ask: a label is text anyone with access to the
// service can write.
const (
	maxLabelReplicas = 10000
	maxLabelPools    = 64
)

// ErrLabels wraps every problem found in a service's hoist.* labels.
var ErrLabels = errors.New("bad hoist labels")

// AppsFromLabels returns an app for every service that opts in with
// hoist.enable=true and whose labels are valid (Deps.ExtraApps takes it).
// Services hoist deployed from a descriptor are not repeated.
func AppsFromLabels(st cluster.State) []config.App {
	var out []config.App
	for _, s := range st.Services {
		if a, ok, err := AppFromLabels(s); ok && err == nil {
			out = append(out, a)
		}
	}
	return out
}

// AppFromLabels reads one service's opt-in labels. ok is false when the
// service does not opt in; err lists every bad label.
func AppFromLabels(s cluster.Service) (app config.App, ok bool, err error) {
	l := s.Labels
	if !optedIn(l) || l[LabelManaged] == "true" {
		return app, false, nil
	}
	app = config.App{Name: s.Name, Image: s.Image, Labels: copyMap(l)}
	app.Resources.Reservations = config.Shape{CPUs: float64(s.Reservation.MilliCPU) / 1000, Memory: config.Bytes(s.Reservation.Memory)}
	app.Resources.Limits = config.Shape{CPUs: float64(s.Limit.MilliCPU) / 1000, Memory: config.Bytes(s.Limit.Memory)}
	var probs []string
	bad := func(k, format string, a ...any) {
		probs = append(probs, k+": "+fmt.Sprintf(format, a...))
	}
	// intLabel reads a count from the hoist label or the other autoscaler's.
	intLabel := func(k, alt string, def int) int {
		v, has := l[k]
		if av, altHas := l[alt]; altHas {
			if has && strings.TrimSpace(av) != strings.TrimSpace(v) {
				bad(k, "%q differs from %s %q", v, alt, av)
				return def
			}
			k, v, has = alt, av, true
		}
		if !has {
			return def
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > maxLabelReplicas {
			bad(k, "%q is not a count (0 to %d)", v, maxLabelReplicas)
			return def
		}
		return n
	}
	durLabel := func(k string) config.Duration {
		v, has := l[k]
		if !has {
			return 0
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			bad(k, "%q is not a duration such as 30s", v)
			return 0
		}
		return config.Duration(d)
	}
	app.Replicas.Min = intLabel(LabelMin, LabelSwarmMinimum, 1)
	app.Replicas.Max = intLabel(LabelMax, LabelSwarmMaximum, app.Replicas.Min)
	if app.Replicas.Min < 1 {
		bad(LabelMin, "must be >= 1")
	}
	if app.Replicas.Max < app.Replicas.Min {
		bad(LabelMax, "%d is less than %s %d", app.Replicas.Max, LabelMin, app.Replicas.Min)
	}
	if v := l[LabelPool]; v != "" {
		app.Pools = splitList(v)
		if len(app.Pools) > maxLabelPools {
			bad(LabelPool, "more than %d pools", maxLabelPools)
			app.Pools = app.Pools[:maxLabelPools]
		}
	} else {
		app.Pools = append([]string(nil), s.Pools...)
	}
	window := durLabel(LabelWindow)
	app.Cooldown.Up = durLabel(LabelCooldownUp)
	app.Cooldown.Down = durLabel(LabelCooldownDown)
	keys := []struct{ label, metric string }{
		{LabelCPUTarget, "cpu"}, {LabelMemTarget, "memory"}, {LabelRPSTarget, "rps"}, {LabelLatTarget, "latency_p95"},
	}
	for _, k := range keys {
		v, has := l[k.label]
		if !has {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), "%"), 64)
		// ParseFloat reads NaN and Inf: a NaN target never scales.
		if err != nil || !(f > 0) || math.IsInf(f, 0) {
			bad(k.label, "%q is not a positive number", v)
			continue
		}
		app.Policies = append(app.Policies, config.Policy{Type: config.PolicyTarget, Metric: k.metric, Target: f, Window: window})
	}
	if len(app.Policies) == 0 && len(probs) == 0 && strings.EqualFold(strings.TrimSpace(l[LabelSwarmAutoscaler]), "true") {
		lower := SwarmAutoscalerLower
		app.Policies = append(app.Policies, config.Policy{Type: config.PolicyThreshold, Metric: "cpu",
			Upper: SwarmAutoscalerUpper, Lower: &lower, Window: window})
	}
	if len(app.Policies) == 0 && len(probs) == 0 {
		bad(LabelCPUTarget, "no policy: give at least one of %s, %s, %s, %s", LabelCPUTarget, LabelMemTarget, LabelRPSTarget, LabelLatTarget)
	}
	if len(probs) > 0 {
		sort.Strings(probs)
		return app, true, fmt.Errorf("service %s: %w: %s", s.Name, ErrLabels, strings.Join(probs, "; "))
	}
	app.SetDefaults()
	return app, true, nil
}

// optedIn says whether a service asks to be scaled: hoist.enable=true, or
// swarm.autoscaler=true unless hoist.enable says otherwise.
func optedIn(l map[string]string) bool {
	if v, has := l[LabelEnable]; has {
		return strings.EqualFold(strings.TrimSpace(v), "true")
	}
	return strings.EqualFold(strings.TrimSpace(l[LabelSwarmAutoscaler]), "true")
}
