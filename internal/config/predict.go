package config

import (
	"fmt"
	"time"
)

// PolicyPredictive sizes replicas and machines to a forecast of the app's
// request rate at a per-replica capacity learned from its observed rate, CPU
// and p95 latency against the app's slo (internal/policy Predict). Fields:
// target is the CPU target (percent of the limit) used while the capacity is
// still being learned (default 60); scale_down.stabilization is how long
// scale-down waits for the need to stay low (default 10m); forecast_only makes
// and records the forecast but never acts on it: replicas follow the rate now
// plus the headroom its own recent changes call for, machines the replicas;
// seasons are the periods the load repeats with (default [24h, 168h]: a day
// and a week), and season_bucket the resolution the forecast remembers them
// at (default 1m; at least the controller's interval, and each season at
// least two buckets long): a load that repeats every 50s is learned with
// seasons: [50s] and season_bucket: 2s, and machines are then ordered one
// boot time ahead of its next rise; keep_window is how long scale-in keeps
// room for the highest replicas asked for (default 45m: a lull between two
// rises does not give back the machines the next needs; a load that repeats
// within minutes may say less).
const PolicyPredictive = "predictive"

// Bounds of the seasonal memory: each season costs (period / bucket) slots
// per app (20 bytes each), kept for as long as the app is.
const (
	DefaultSeasonBucket = time.Minute
	MaxSeasons          = 4
	MaxSeasonBuckets    = 100_000
)

// checkSeasons checks a predictive policy's seasons and season_bucket.
func (p *Policy) checkSeasons(ck *checker, path string) {
	bucket := p.SeasonBucket.D()
	if p.SeasonBucket < 0 {
		return // reported by the walker
	}
	if bucket == 0 {
		bucket = DefaultSeasonBucket
	}
	if p.Seasons != nil && len(p.Seasons) == 0 {
		// (also: an element the walker refused leaves the list empty)
		ck.addRel(path+".seasons", []string{path + ".seasons[0]"}, "give at least one season, or leave it out for the defaults (24h, 168h)")
	}
	if len(p.Seasons) > MaxSeasons {
		ck.add(path+".seasons", "at most %d seasons, not %d", MaxSeasons, len(p.Seasons))
	}
	seen := map[Duration]bool{}
	for i, s := range p.Seasons {
		sp := fmt.Sprintf("%s.seasons[%d]", path, i)
		switch {
		case s <= 0:
			ck.add(sp, "must be > 0")
		case seen[s]:
			ck.add(sp, "%s is listed twice", s)
		case s.D() < 2*bucket:
			ck.addRel(sp, []string{path + ".season_bucket"}, "%s is shorter than two season_buckets of %s: set a shorter season_bucket", s, bucket)
		case s.D()/bucket > MaxSeasonBuckets:
			ck.addRel(sp, []string{path + ".season_bucket"}, "%s in buckets of %s is %d buckets, more than %d: set a longer season_bucket", s, bucket, s.D()/bucket, MaxSeasonBuckets)
		}
		seen[s] = true
	}
}

// checkSeasonBucket: every bucket of the seasonal memory needs a sample, one
// per tick.
func (p *Policy) checkSeasonBucket(ck *checker, path string, interval time.Duration) {
	if p.Type == PolicyPredictive && p.SeasonBucket > 0 && p.SeasonBucket.D() < interval {
		ck.add(path+".season_bucket", "%s is shorter than controller.interval %s: each bucket needs a sample", p.SeasonBucket, interval)
	}
}

// defaultPredictive gives the app at path the predictive policy, with every
// field at its default, when its descriptor writes an slo section and no
// policies key: an operator who states the latency objective and no rule gets
// the policy that sizes to that objective. An app without an slo keeps no
// policy (every app gets an slo by default, so defaulting on that would change
// every descriptor that lists no policies); an explicit `policies: []` is the
// operator's choice of none. written reports whether a path was in the YAML.
func (a *App) defaultPredictive(path string, written func(string) bool) {
	if len(a.Policies) > 0 || !written(path+".slo") || written(path+".policies") {
		return
	}
	a.Policies = []Policy{{Type: PolicyPredictive}}
	a.PredictiveDefault = true
}

func (p *Policy) checkPredictive(ck *checker, path string) {
	if p.Target < 0 || p.Target > 100 {
		ck.add(path+".target", "must be in (0, 100]: the CPU target while learning")
	}
	if p.Metric != "" || p.Query != "" {
		ck.add(path+".metric", "is not used by a predictive policy (it reads rps, cpu and latency_p95)")
	}
	if p.ScaleUp != nil {
		ck.add(path+".scale_up", "is not used by a predictive policy (it scales up to the forecast at once)")
	}
	if p.ScaleDown != nil && p.ScaleDown.Stabilization != nil && *p.ScaleDown.Stabilization < 0 {
		ck.add(path+".scale_down.stabilization", "must be >= 0")
	}
	p.checkSeasons(ck, path)
	for _, f := range []struct {
		field string
		set   bool
	}{{"upper", p.Upper != 0}, {"lower", p.Lower != nil}, {"windows", len(p.Windows) > 0}, {"tolerance", p.Tolerance != nil}} {
		if f.set {
			ck.add(path+"."+f.field, "is not used by a predictive policy")
		}
	}
}
