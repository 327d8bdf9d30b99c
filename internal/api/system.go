package api

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the embedded OpenAPI 3 description.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// Refresh reads the registry again and gives the engine the descriptor
// with the overrides read: hoist run --ha, when this process becomes the
// leader after another one took changes.
func (s *Server) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.opt.Catalog.Reload(ctx); err != nil {
		return fmt.Errorf("reload the registry: %w", err)
	}
	return s.opt.Engine.SetConfig(s.opt.Catalog.Effective(s.base))
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	return nil
}

// ready: the loop has completed a tick, so the engine sees the cluster.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	plan, _ := s.opt.Engine.Last()
	if plan == nil {
		return errf(http.StatusServiceUnavailable, "not_ready", "", "the control loop has not completed a tick yet")
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "last_tick": plan.Time})
	return nil
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openAPI)
	return err
}

func (s *Server) plan(w http.ResponseWriter, r *http.Request) error {
	p, err := s.opt.Engine.Plan(r.Context())
	if err != nil {
		return errf(http.StatusServiceUnavailable, "unavailable", "", "cannot observe the cluster: %v", err)
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// ReloadResult says what a reload changed.
type ReloadResult struct {
	File        string   `json:"file"`
	AppsAdded   []string `json:"apps_added,omitempty"`
	AppsRemoved []string `json:"apps_removed,omitempty"`
	AppsChanged []string `json:"apps_changed,omitempty"`
	Tokens      int      `json:"tokens,omitempty"`
	Warnings    []string `json:"warnings,omitempty"`
}

// ErrNoReload is returned when the server was built without a descriptor loader.
var ErrNoReload = errors.New("reload is not available")

func (s *Server) reload(w http.ResponseWriter, r *http.Request) error {
	res, err := s.Reload(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// Reload re-reads the descriptor (and the tokens file), checks it, applies
// the policy overrides and hands it to the engine. Nothing changes unless
// all of it is valid. SIGHUP calls it too.
func (s *Server) Reload(ctx context.Context) (*ReloadResult, error) {
	if s.opt.Load == nil {
		return nil, errf(http.StatusNotImplemented, "unavailable", "", "%v", ErrNoReload)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, err := s.opt.Load(ctx)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			probs := make([]Problem, len(errs))
			for i, e := range errs {
				probs[i] = Problem{Field: e.Path, Message: e.Error()}
			}
			return nil, invalid(probs)
		}
		return nil, badRequest("", "descriptor: %v", err)
	}
	res := &ReloadResult{File: cfg.File}
	cur := s.opt.Engine.Config()
	for i, p := range cfg.Pools {
		if _, ok := cur.Pool(p.Name); !ok {
			return nil, badRequest(fmt.Sprintf("pools[%d].name", i), "pool %q is new: adding a pool needs a restart", p.Name)
		}
	}
	for _, p := range cur.Pools {
		if _, ok := cfg.Pool(p.Name); !ok {
			res.Warnings = append(res.Warnings, fmt.Sprintf("pool %s is gone from the descriptor: its machines are no longer scaled", p.Name))
		}
	}
	for _, a := range s.opt.Catalog.Apps() {
		if _, ok := cfg.App(a.Name); ok {
			res.Warnings = append(res.Warnings, fmt.Sprintf("app %s is now in the descriptor, which wins over the one registered through the API", a.Name))
		}
		pools := map[string]*config.Pool{}
		for i := range cfg.Pools {
			pools[cfg.Pools[i].Name] = &cfg.Pools[i]
		}
		for _, e := range a.Check(pools) {
			res.Warnings = append(res.Warnings, fmt.Sprintf("registered app %s: %v", a.Name, e))
		}
	}
	var tokensApply func()
	if s.opt.Tokens != nil && s.opt.Auth != nil {
		t, err := s.opt.Tokens()
		if err != nil {
			return nil, badRequest("tokens", "%v", err)
		}
		res.Tokens = t.Len()
		tokensApply = func() { s.opt.Auth.SetTokens(t) }
	}
	old := map[string]config.App{}
	for _, a := range s.base.Apps {
		old[a.Name] = a
	}
	for _, a := range cfg.Apps {
		prev, ok := old[a.Name]
		switch {
		case !ok:
			res.AppsAdded = append(res.AppsAdded, a.Name)
		case !sameApp(prev, a):
			res.AppsChanged = append(res.AppsChanged, a.Name)
		}
		delete(old, a.Name)
	}
	for name := range old {
		res.AppsRemoved = append(res.AppsRemoved, name)
	}
	sort.Strings(res.AppsRemoved)
	if err := s.opt.Engine.SetConfig(s.opt.Catalog.Effective(cfg)); err != nil {
		return nil, badRequest("pools", "%v", err)
	}
	s.base = cfg
	if tokensApply != nil {
		tokensApply()
	}
	reason := "descriptor reloaded"
	for _, part := range []struct {
		what  string
		names []string
	}{{"added", res.AppsAdded}, {"removed (services left running, no longer scaled)", res.AppsRemoved}, {"changed", res.AppsChanged}} {
		if len(part.names) > 0 {
			reason += fmt.Sprintf("; apps %s: %s", part.what, strings.Join(part.names, ", "))
		}
	}
	s.opt.Events.Record(events.Event{Time: s.opt.Now(), Kind: events.EngineInfo, Reason: reason})
	return res, nil
}

// sameApp compares two apps by their descriptor form.
func sameApp(a, b config.App) bool {
	x, err1 := appSpec(a)
	y, err2 := appSpec(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}
