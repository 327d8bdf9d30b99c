package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/store"
	"github.com/hoist/hoist/internal/throttle"
)

// App sources.
const (
	SourceDescriptor = "descriptor"
	SourceAPI        = "api"
)

type appView struct {
	Name       string              `json:"name"`
	Source     string              `json:"source"`
	Overridden bool                `json:"overridden,omitempty"`
	Image      string              `json:"image"`
	Replicas   *replicaView        `json:"replicas,omitempty"`
	Decision   *engine.AppDecision `json:"decision,omitempty"`
	Spec       map[string]any      `json:"spec,omitempty"`
	Metrics    []metricView        `json:"metrics,omitempty"`
	Events     []events.Event      `json:"events,omitempty"`
	// Throttle is the network limit on the app's tasks, while one is wanted.
	Throttle *throttle.Entry `json:"throttle,omitempty"`
}

type replicaView struct {
	Desired  int      `json:"desired"`
	Running  int      `json:"running"`
	Starting int      `json:"starting"`
	Pending  int      `json:"pending"`
	Why      []string `json:"pending_reasons,omitempty"`
}

type metricView struct {
	Policy int     `json:"policy"`
	Type   string  `json:"type"`
	Metric string  `json:"metric,omitempty"`
	Query  string  `json:"query,omitempty"`
	Value  float64 `json:"value"`
	OK     bool    `json:"ok"`
	Error  string  `json:"error,omitempty"`
}

// findApp returns an app in force (the descriptor's, with any override, or
// a registered one) and where it comes from.
func (s *Server) findApp(name string) (config.App, string, bool) {
	if a, ok := s.opt.Engine.Config().App(name); ok {
		return *a, SourceDescriptor, true
	}
	if a, ok := s.opt.Catalog.App(name); ok {
		return a, SourceAPI, true
	}
	return config.App{}, "", false
}

func (s *Server) appView(a config.App, source string, full bool, snap *engine.Snapshot, plan *engine.Plan) appView {
	v := appView{Name: a.Name, Source: source, Image: a.Image}
	if source == SourceDescriptor {
		_, v.Overridden = s.opt.Catalog.Override(a.Name)
	}
	if s.opt.Throttles != nil {
		if en, ok := s.opt.Throttles.Throttled(a.Name, s.opt.Now()); ok {
			v.Throttle = &en
		}
	}
	if plan != nil {
		for i := range plan.Apps {
			if plan.Apps[i].App == a.Name {
				d := plan.Apps[i]
				v.Decision = &d
			}
		}
	}
	if snap != nil {
		for _, svc := range snap.State.Services {
			if svc.Name == a.Name {
				v.Replicas = &replicaView{Desired: svc.Desired}
			}
		}
		if v.Replicas != nil {
			why := map[string]bool{}
			for _, t := range snap.State.Tasks {
				if t.Service != a.Name {
					continue
				}
				switch t.State {
				case cluster.TaskRunning:
					v.Replicas.Running++
				case cluster.TaskStarting:
					v.Replicas.Starting++
				case cluster.TaskPending:
					v.Replicas.Pending++
					if t.Reason != "" && !why[t.Reason] {
						why[t.Reason] = true
						v.Replicas.Why = append(v.Replicas.Why, t.Reason)
					}
				}
			}
		}
		if full {
			samples := snap.Metrics[a.Name]
			for i, p := range a.Policies {
				if p.Type == config.PolicySchedule {
					continue
				}
				m := metricView{Policy: i, Type: p.Type, Metric: p.Metric, Query: p.Query}
				if i < len(samples) {
					m.Value, m.OK, m.Error = samples[i].Value, samples[i].OK, samples[i].Err
				}
				v.Metrics = append(v.Metrics, m)
			}
		}
	}
	return v
}

func (s *Server) listApps(w http.ResponseWriter, r *http.Request) error {
	plan, snap := s.opt.Engine.Last()
	cfg := s.opt.Engine.Config()
	out := make([]appView, 0, len(cfg.Apps))
	seen := map[string]bool{}
	for _, a := range cfg.Apps {
		seen[a.Name] = true
		out = append(out, s.appView(a, SourceDescriptor, false, snap, plan))
	}
	for _, a := range s.opt.Catalog.Apps() {
		if !seen[a.Name] {
			out = append(out, s.appView(a, SourceAPI, false, snap, plan))
		}
	}
	writeJSON(w, http.StatusOK, AppList{Apps: out})
	return nil
}

// recentAppEvents is how many of an app's events `show` includes.
const recentAppEvents = 20

func (s *Server) showApp(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	a, source, ok := s.findApp(name)
	if !ok {
		return notFound("name", "no app named %q", name)
	}
	plan, snap := s.opt.Engine.Last()
	v := s.appView(a, source, true, snap, plan)
	spec, err := appSpec(a)
	if err != nil {
		return err
	}
	v.Spec = spec
	evs, err := s.opt.Events.Page(events.Filter{App: name}, 0, false, recentAppEvents)
	if err != nil {
		return err
	}
	v.Events = evs
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) deployApp(w http.ResponseWriter, r *http.Request) error {
	body, e := readBody(r)
	if e != nil {
		return e
	}
	spec, e := decodeObject(body)
	if e != nil {
		return e
	}
	// Parsed and checked before the lock: other changes do not wait for a
	// slow body, nor for Prometheus.
	app, probs := parseApp(spec, s.opt.Engine.Config().Pools)
	if len(probs) > 0 {
		return invalid(probs)
	}
	if e := s.checkQueries(r.Context(), app); e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, source, ok := s.findApp(app.Name); ok {
		return conflict("name", "app %q already exists (from the %s); change its policy with PUT /v1/apps/%s/policy", app.Name, source, app.Name)
	}
	if probs := s.checkCandidate(app); len(probs) > 0 {
		return invalid(probs)
	}
	if err := s.opt.Catalog.PutApp(r.Context(), app); err != nil {
		return err
	}
	s.opt.Events.Record(events.Event{Time: s.opt.Now(), Kind: events.EngineInfo, App: app.Name,
		Reason: fmt.Sprintf("app registered through the %s: image %s, replicas %d..%d, %d policies; the next tick deploys it",
			who(r), app.Image, app.Replicas.Min, app.Replicas.Max, len(app.Policies))})
	warnings := s.hooks(r.Context(), AppChange{Kind: AppDeployedChange, App: app})
	v := s.appView(app, SourceAPI, false, nil, nil)
	v.Spec, _ = appSpec(app)
	writeJSON(w, http.StatusCreated, AppChanged{App: v, Warnings: warnings})
	return nil
}

func (s *Server) setPolicy(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	body, e := readBody(r)
	if e != nil {
		return e
	}
	patch, e := decodeObject(body)
	if e != nil {
		return e
	}
	// Parsed and checked before the lock (as deployApp), against the app as
	// it is now; under the lock, the app must still be that one.
	cur, _, ok := s.findApp(name)
	if !ok {
		return notFound("name", "no app named %q", name)
	}
	app, probs := patchPolicy(cur, patch, s.opt.Engine.Config().Pools)
	if len(probs) > 0 {
		return invalid(probs)
	}
	if e := s.checkQueries(r.Context(), app); e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now, source, ok := s.findApp(name)
	if !ok {
		return notFound("name", "no app named %q", name)
	}
	if !sameApp(now, cur) {
		return conflict("name", "app %q changed while this update was checked; send it again", name)
	}
	if probs := s.checkCandidate(app); len(probs) > 0 {
		return invalid(probs)
	}
	ctx := r.Context()
	if source == SourceAPI {
		if err := s.opt.Catalog.PutApp(ctx, app); err != nil {
			return err
		}
	} else {
		prev, had := s.opt.Catalog.Override(name)
		o := store.Override{App: name, Replicas: app.Replicas, Cooldown: app.Cooldown, Policies: app.Policies}
		if err := s.opt.Catalog.PutOverride(ctx, o); err != nil {
			return err
		}
		if err := s.opt.Engine.SetConfig(s.opt.Catalog.Effective(s.base)); err != nil {
			// Undo, so what is stored is what runs.
			if had {
				_ = s.opt.Catalog.PutOverride(ctx, prev)
			} else {
				_ = s.opt.Catalog.DeleteOverride(ctx, name)
			}
			return err
		}
	}
	s.opt.Events.Record(events.Event{Time: s.opt.Now(), Kind: events.EngineInfo, App: name,
		Reason: fmt.Sprintf("policy set through the %s: replicas %d..%d, %d policies", who(r), app.Replicas.Min, app.Replicas.Max, len(app.Policies))})
	warnings := s.hooks(ctx, AppChange{Kind: AppUpdatedChange, App: app})
	v := s.appView(app, source, false, nil, nil)
	v.Overridden = source == SourceDescriptor
	v.Spec, _ = appSpec(app)
	writeJSON(w, http.StatusOK, AppChanged{App: v, Warnings: warnings})
	return nil
}

func (s *Server) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	_, source, ok := s.findApp(name)
	if !ok {
		return notFound("name", "no app named %q", name)
	}
	if source == SourceAPI {
		return conflict("name", "app %q was registered through the API: its policy is its own; set it with PUT", name)
	}
	prev, had := s.opt.Catalog.Override(name)
	if !had {
		return notFound("name", "app %q has no policy override", name)
	}
	ctx := r.Context()
	if err := s.opt.Catalog.DeleteOverride(ctx, name); err != nil {
		return err
	}
	if err := s.opt.Engine.SetConfig(s.opt.Catalog.Effective(s.base)); err != nil {
		_ = s.opt.Catalog.PutOverride(ctx, prev)
		return err
	}
	app, _, _ := s.findApp(name)
	s.opt.Events.Record(events.Event{Time: s.opt.Now(), Kind: events.EngineInfo, App: name,
		Reason: "policy override removed through the " + who(r) + ": the descriptor's policy is back"})
	warnings := s.hooks(ctx, AppChange{Kind: AppUpdatedChange, App: app})
	writeJSON(w, http.StatusOK, PolicyReset{App: name, Override: false, Warnings: warnings})
	return nil
}

func (s *Server) deleteApp(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	app, source, ok := s.findApp(name)
	if !ok {
		return notFound("name", "no app named %q", name)
	}
	if source == SourceDescriptor {
		return conflict("name", "app %q is defined in the descriptor: remove it there and reload", name)
	}
	ctx := r.Context()
	if err := s.opt.Catalog.DeleteApp(ctx, name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// A tick that observed the app before it left the catalog may still be
	// acting on it; Last waits for that tick (it takes the engine's lock), so
	// the service is removed after it and no later tick deploys it again.
	s.opt.Engine.Last()
	var warnings []string
	removed := false
	if s.opt.Services != nil {
		if err := s.opt.Services.Remove(ctx, name); err != nil {
			warnings = append(warnings, "removing the service: "+err.Error())
		} else {
			removed = true
		}
	}
	reason := "app deleted through the " + who(r)
	if removed {
		reason += ": service removed"
	}
	s.opt.Events.Record(events.Event{Time: s.opt.Now(), Kind: events.AppRemoved, App: name, Reason: reason})
	warnings = append(warnings, s.hooks(ctx, AppChange{Kind: AppDeletedChange, App: app})...)
	writeJSON(w, http.StatusOK, AppDeleted{Deleted: name, ServiceRemoved: removed, Warnings: warnings})
	return nil
}

// hooks runs the OnAppChange hooks; their failures become warnings.
func (s *Server) hooks(ctx context.Context, c AppChange) []string {
	var out []string
	for _, h := range s.opt.OnAppChange {
		if err := h(ctx, c); err != nil {
			s.opt.Logger.Warn("app change hook", "app", c.App.Name, "change", c.Kind, "err", err)
			out = append(out, err.Error())
		}
	}
	return out
}
