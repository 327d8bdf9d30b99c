package engine

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/policy"
)

// decideApp decides one app's replicas; svc (nil before it is deployed) and
// tasks are its service and tasks in the snapshot.
func decideApp(cfg *config.Config, app *config.App, svc *cluster.Service, tasks []*cluster.Task, s *Snapshot, ix *index, m *memory) AppDecision {
	d := AppDecision{App: app.Name, Min: app.Replicas.Min, Max: app.Replicas.Max}
	boundsWhy := ""
	for _, p := range app.Policies {
		if p.Type != config.PolicySchedule {
			continue
		}
		if b, ok := policy.Schedule(&p, s.Time); ok {
			if b.Min > 0 {
				d.Min = b.Min
			}
			if b.Max > 0 {
				d.Max = b.Max
			}
			d.Max = max(d.Max, d.Min)
			boundsWhy = b.Reason
		}
	}
	if svc == nil {
		d.Action, d.Desired = ActDeploy, d.Min
		d.Reason = "no service yet: deploy with " + count(d.Min, "replica")
		return d
	}
	for _, t := range tasks {
		switch t.State {
		case cluster.TaskRunning:
			d.Running++
		case cluster.TaskPending:
			d.Pending++
		}
	}
	cur := svc.Desired
	d.Current, d.Desired = cur, cur
	am := m.app(app.Name, len(app.Policies))
	samples := s.Metrics[app.Name]

	best, bestWhy := -1, ""
	var noData []string
	abstained := "" // the first policy without an opinion, for the reason
	for i := range app.Policies {
		p := &app.Policies[i]
		if p.Type == config.PolicySchedule {
			continue
		}
		var smp Sample
		if i < len(samples) {
			smp = samples[i]
		}
		in := policy.Input{Now: s.Time, Current: cur, Ready: d.Running, Value: smp.Value, HasValue: smp.OK, Changes: am.changes}
		var rec policy.Recommendation
		switch p.Type {
		case config.PolicyTarget:
			rec = policy.Target(p, &am.target[i], in)
		case config.PolicyAlert:
			rec, smp = alertVote(p, i, in, s.Alerts, app.Name)
		case config.PolicyPredictive:
			var ahead, keep int
			rec, ahead, keep, d.Notice, d.Forecast = predictVote(cfg, app, i, in, s, ix, am, m)
			d.Ahead = max(d.Ahead, ahead)
			d.Keep = max(d.Keep, keep)
		default:
			rec = policy.Threshold(p, &am.threshold[i], in)
		}
		if rec.NoData && smp.Err != "" {
			rec.Reason = smp.Err
		}
		if d.Votes == nil {
			d.Votes = ix.voteSlice(len(app.Policies) - i)
		}
		d.Votes = append(d.Votes, PolicyVote{Policy: i, Name: p.Name, Type: p.Type, Metric: metricLabel(p), Value: smp.Value, HasValue: smp.OK, Replicas: rec.Replicas, Reason: rec.Reason})
		if rec.NoData {
			noData = append(noData, fmt.Sprintf("%s (%s): %s", p.Label(i), metricLabel(p), rec.Reason))
			continue
		}
		if rec.Abstain {
			if abstained == "" {
				abstained = labelled(p, i, rec.Reason)
			}
			continue
		}
		if rec.Replicas > best {
			best, bestWhy = rec.Replicas, labelled(p, i, rec.Reason)
		}
	}
	want, why := cur, "no policy"
	if abstained != "" {
		why = abstained
	}
	if best >= 0 {
		want, why = best, bestWhy
	}
	hold := func(kind HoldKind, reason string) AppDecision {
		d.Action, d.Desired, d.HoldKind = ActHold, cur, kind
		d.Reason = reason
		return d
	}
	// Missing data never scales down: a policy that cannot see must not be
	// outvoted into removing capacity.
	if want < cur && len(noData) > 0 {
		if cur <= d.Max {
			return hold(HoldNoData, fmt.Sprintf("wanted %d, held at %d: no data from %s", want, cur, strings.Join(noData, "; ")))
		}
	}
	if best < 0 && len(noData) > 0 && cur >= d.Min && cur <= d.Max {
		return hold(HoldNoData, "no data: "+strings.Join(noData, "; "))
	}
	// Bounds first: they are safety, not advice, so cooldowns do not delay them.
	switch {
	case cur < d.Min:
		d.Action, d.Desired = ActScale, max(d.Min, min(want, d.Max))
		d.Reason = fmt.Sprintf("below min %d%s; %s", d.Min, suffix(boundsWhy), why)
		return d
	case cur > d.Max:
		d.Action, d.Desired = ActScale, min(d.Max, max(want, d.Min))
		d.Reason = fmt.Sprintf("above max %d%s; %s", d.Max, suffix(boundsWhy), why)
		return d
	}
	target := min(max(want, d.Min), d.Max)
	if target == cur {
		if want > d.Max {
			return hold(HoldMax, fmt.Sprintf("wanted %d, held at max %d%s: %s", want, d.Max, suffix(boundsWhy), why))
		}
		if want < d.Min && want < cur {
			d.Action, d.Reason = ActNone, fmt.Sprintf("at min %d: %s", d.Min, why)
			return d
		}
		d.Action, d.Reason = ActNone, why
		return d
	}
	if target > cur {
		if left := app.Cooldown.Up.D() - s.Time.Sub(am.lastUp); !am.lastUp.IsZero() && left > 0 {
			return hold(HoldCooldown, fmt.Sprintf("wanted %d, held at %d: scale-up cooldown, %s left", target, cur, left.Round(time.Second)))
		}
		if why, held := s.AnomalyHold[app.Name]; held {
			return hold(HoldAnomaly, fmt.Sprintf("wanted %d, held at %d: anomaly guard: %s", target, cur, why))
		}
	} else if left := app.Cooldown.Down.D() - s.Time.Sub(am.lastMove); !am.lastMove.IsZero() && left > 0 {
		return hold(HoldCooldown, fmt.Sprintf("wanted %d, held at %d: scale-down cooldown, %s left", target, cur, left.Round(time.Second)))
	}
	d.Action, d.Desired = ActScale, target
	d.Reason = why
	if target != want {
		d.Reason += fmt.Sprintf(" (bounded to %d..%d%s)", d.Min, d.Max, suffix(boundsWhy))
	}
	return d
}

// labelled is p.Label(i) + " " + reason made in one allocation, not two
// (every app, every tick).
func labelled(p *config.Policy, i int, reason string) string {
	if p.Name != "" {
		return "policies[" + p.Name + "] " + reason
	}
	return "policies[" + strconv.Itoa(i) + "] " + reason
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return " by " + s
}

// alertVote is an alert policy's vote; its sample says which alert fires
// (1 overloaded, -1 underloaded, 0 none) so events show it among the inputs.
func alertVote(p *config.Policy, i int, in policy.Input, alerts map[string][]policy.Firing, app string) (policy.Recommendation, Sample) {
	if alerts == nil {
		const why = "no alert executor: configure prometheus.webhook and hoist run --listen"
		return policy.Recommendation{Replicas: in.Current, NoData: true, Reason: why}, Sample{Err: why}
	}
	rec := policy.Alert(p, i, in, alerts[app])
	smp := Sample{OK: true}
	for _, f := range alerts[app] {
		switch {
		case f.Policy != i:
		case f.Kind == policy.Overloaded:
			smp.Value = 1
		case f.Kind == policy.Underloaded && smp.Value == 0:
			smp.Value = -1
		}
	}
	return rec, smp
}

func metricLabel(p *config.Policy) string {
	if p.Type == config.PolicyAlert {
		return "alert"
	}
	if p.Query != "" {
		return "query"
	}
	return p.Metric
}
