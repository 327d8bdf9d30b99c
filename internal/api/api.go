// Package api is hoist's /v1 JSON API: pools and their machines, apps and
// their policies, the event log and its live stream, the plan, health and
// reload. Every route is in the table below and in openapi.json (a test holds
// the two together); every route but health and readiness needs a token whose
// role allows it.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/store"
)

// Engine is what the API drives.
type Engine interface {
	Config() *config.Config
	SetConfig(*config.Config) error
	Plan(ctx context.Context) (*engine.Plan, error)
	Last() (*engine.Plan, *engine.Snapshot)
	Machines() []cluster.MachineRecord
	CancelDrain(ctx context.Context, name string) error
	RequestPoolChange(ctx context.Context, pool string, target int, reason string) (int, error)
	RequestPoolStep(ctx context.Context, pool string, delta int, reason string) (cluster.PoolRequest, error)
}

var _ Engine = (*engine.Engine)(nil)

// EventLog is the event history and its live stream.
type EventLog interface {
	Record(e events.Event) events.Event
	// Page returns up to limit events matching f, oldest first: forward, the
	// first ones after the sequence number cursor; backward, the newest ones
	// before it (cursor 0: the end).
	Page(f events.Filter, cursor uint64, forward bool, limit int) ([]events.Event, error)
	LastSeq() uint64
	Subscribe(buffer int) (<-chan events.Event, func())
}

var _ EventLog = (*store.Bolt)(nil)

// ServiceRemover deletes an app's service from the cluster (the runtime's
// Orchestrator).
type ServiceRemover interface {
	Remove(ctx context.Context, service string) error
}

var _ ServiceRemover = (engine.Orchestrator)(nil)

// AppChange tells other features (per-app Prometheus rules) that an app was
// deployed, had its policy changed, or was deleted.
type AppChange struct {
	Kind string // "deployed", "updated", "deleted"
	App  config.App
}

// App change kinds.
const (
	AppDeployedChange = "deployed"
	AppUpdatedChange  = "updated"
	AppDeletedChange  = "deleted"
)

// Options configure a Server.
type Options struct {
	Engine  Engine
	Events  EventLog
	Catalog *Catalog
	// Services removes deleted apps' services; nil leaves them running.
	Services ServiceRemover
	// Auth checks tokens; nil lets every request through (tests only: the
	// runtime always passes one).
	Auth *auth.Authenticator
	// Base is the descriptor as loaded, before policy overrides.
	Base *config.Config
	// Load re-reads the descriptor (reload); nil: reload is refused.
	Load func(ctx context.Context) (*config.Config, error)
	// Tokens re-reads the tokens file on reload; nil: none.
	Tokens func() (*auth.Tokens, error)
	// OnAppChange hooks run after a change is stored; their errors are
	// returned as warnings, never undo the change.
	OnAppChange []func(ctx context.Context, c AppChange) error
	// Now is the engine's clock (virtual on the simulator), for API events.
	Now    func() time.Time
	Logger *slog.Logger
	// MaxBody bounds request bodies (default 1 MiB).
	MaxBody int64
	// MaxStreams bounds concurrent event streams (default 512).
	MaxStreams int
	// MaxStreamsPerClient bounds the streams of one token (or, without
	// tokens, one client address), so that one viewer cannot take them all
	// (default 16).
	MaxStreamsPerClient int
	// AllowedHosts are the host names, beyond IP literals and localhost,
	// that requests may name in Host (DNS rebinding); nil: this machine's
	// host name. See auth.Fence.
	AllowedHosts []string
	// Queries checks the PromQL of policies before an app or policy is
	// accepted (prom.Client); nil: queries are not checked.
	Queries QueryChecker
	// Heartbeat is the event stream's keep-alive period (default 15s).
	Heartbeat time.Duration
	// Series records the figures the dashboard charts; nil: its routes are 501.
	Series Series
	// Throttles puts rate limits on apps' tasks; nil: the throttle routes are 501.
	Throttles Throttler
	// ThrottleReports is what the agents last reported of an app's limits,
	// by task (nil: no agent applies them, as on the simulator).
	ThrottleReports func(app string) []TaskLimit
}

// Server serves the API.
type Server struct {
	opt     Options
	routes  []Route
	paths   *http.ServeMux // path patterns without methods: tells 405 from 404
	mu      sync.Mutex     // serialises changes to apps, policies and the descriptor
	base    *config.Config
	fence   *auth.Fence
	streams atomic.Int64
	perMu   sync.Mutex
	per     map[string]int // streams per principal
	frames  frameCache
	done    chan struct{}
	once    sync.Once
}

// Route is one endpoint.
type Route struct {
	Method, Pattern string
	// Role needed; RoleNone means public.
	Role auth.Role
	h    func(w http.ResponseWriter, r *http.Request) error
}

// ErrConfig is returned by New for missing options.
var ErrConfig = errors.New("api: engine, events and catalog are required")

// New makes a server.
func New(opt Options) (*Server, error) {
	if opt.Engine == nil || opt.Events == nil || opt.Catalog == nil {
		return nil, ErrConfig
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.MaxBody <= 0 {
		opt.MaxBody = 1 << 20
	}
	if opt.MaxStreams <= 0 {
		opt.MaxStreams = 512
	}
	if opt.MaxStreamsPerClient <= 0 {
		opt.MaxStreamsPerClient = 16
	}
	if opt.Heartbeat <= 0 {
		opt.Heartbeat = 15 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Base == nil {
		opt.Base = opt.Engine.Config()
	}
	s := &Server{opt: opt, base: opt.Base, done: make(chan struct{}), paths: http.NewServeMux(),
		fence: auth.NewFence(opt.AllowedHosts), per: map[string]int{}}
	v, o, a := auth.RoleViewer, auth.RoleOperator, auth.RoleAdmin
	s.routes = []Route{
		{"GET", "/v1/health", auth.RoleNone, s.health},
		{"GET", "/v1/ready", auth.RoleNone, s.ready},
		{"GET", "/v1/openapi.json", v, s.openapi},
		{"GET", "/v1/plan", v, s.plan},
		{"POST", "/v1/reload", a, s.reload},
		{"GET", "/v1/pools", v, s.listPools},
		{"GET", "/v1/pools/{name}", v, s.showPool},
		{"POST", "/v1/pools/{name}/scaleup", o, s.scaleUp},
		{"POST", "/v1/pools/{name}/scaledown", o, s.scaleDown},
		{"POST", "/v1/pools/{name}/scaleto/{n}", o, s.scaleTo},
		{"POST", "/v1/machines/{name}/cancel-drain", o, s.cancelDrain},
		{"GET", "/v1/apps", v, s.listApps},
		{"POST", "/v1/apps", o, s.deployApp},
		{"GET", "/v1/apps/{name}", v, s.showApp},
		{"DELETE", "/v1/apps/{name}", o, s.deleteApp},
		{"PUT", "/v1/apps/{name}/policy", o, s.setPolicy},
		{"DELETE", "/v1/apps/{name}/policy", o, s.deletePolicy},
		{"GET", "/v1/apps/{name}/throttle", v, s.showThrottle},
		{"POST", "/v1/apps/{name}/throttle", o, s.setThrottle},
		{"DELETE", "/v1/apps/{name}/throttle", o, s.liftThrottle},
		{"GET", "/v1/events", v, s.listEvents},
		{"GET", "/v1/events/stream", v, s.stream},
		{"GET", "/v1/whoami", v, s.whoami},
		{"GET", "/v1/series", v, s.latestSeries},
		{"GET", "/v1/apps/{name}/series", v, s.appSeries},
		{"GET", "/v1/pools/{name}/series", v, s.poolSeries},
	}
	seen := map[string]bool{}
	for _, rt := range s.routes {
		if !seen[rt.Pattern] {
			seen[rt.Pattern] = true
			s.paths.Handle(rt.Pattern, http.NotFoundHandler())
		}
	}
	return s, nil
}

// Routes returns the route table.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Register mounts every route on mux, plus a JSON 404/405 for the rest of
// /v1/. The caller serves mux behind auth.Fence (Host names, cross-site
// requests, JSON bodies), as Handler does, so that the fence is met once,
// with or without tokens, before any token is looked at.
func (s *Server) Register(mux *http.ServeMux) {
	for _, rt := range s.routes {
		var h http.Handler = s.wrap(rt)
		if rt.Role != auth.RoleNone && s.opt.Auth != nil {
			h = s.opt.Auth.Require(rt.Role, h)
		}
		mux.Handle(rt.Method+" "+rt.Pattern, h)
	}
	mux.Handle("/v1/", s.wrap(Route{h: s.notFound}))
}

// Handler returns the API alone, behind the fence.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Register(mux)
	return s.fence.Wrap(mux)
}

// Close ends the event streams (http.Server.Shutdown waits for idle
// connections, which a stream never is).
func (s *Server) Close() { s.once.Do(func() { close(s.done) }) }

// wrap turns a handler returning an error into an http.Handler that logs.
func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(sw, r.Body, s.opt.MaxBody)
		}
		err := rt.h(sw, r)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) {
				s.opt.Logger.Error("api", "method", r.Method, "path", r.URL.Path, "err", err)
				ae = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: err.Error()}
			}
			if sw.status == 0 {
				writeJSON(sw, ae.Status, map[string]any{"error": ae})
			}
		}
		s.opt.Logger.Debug("api", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"role", auth.RoleFrom(r.Context()).String(), "took", time.Since(start))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Error is the API's error body: {"error": {...}}.
type Error struct {
	Status  int       `json:"-"`
	Code    string    `json:"code"`
	Message string    `json:"message"`
	Field   string    `json:"field,omitempty"`
	Details []Problem `json:"details,omitempty"`
}

// Problem is one invalid field.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

func errf(status int, code, field, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

func badRequest(field, format string, args ...any) *Error {
	return errf(http.StatusBadRequest, "invalid", field, format, args...)
}

func notFound(field, format string, args ...any) *Error {
	return errf(http.StatusNotFound, "not_found", field, format, args...)
}

func conflict(field, format string, args ...any) *Error {
	return errf(http.StatusConflict, "conflict", field, format, args...)
}

// invalid turns a list of problems into one error naming the first field
// (by path, so the answer does not depend on map order).
func invalid(probs []Problem) *Error {
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Field < probs[j].Field })
	e := &Error{Status: http.StatusBadRequest, Code: "invalid", Details: probs}
	if len(probs) > 0 {
		e.Field, e.Message = probs[0].Field, probs[0].Message
	}
	if len(probs) > 1 {
		e.Message += fmt.Sprintf(" (and %d more problems)", len(probs)-1)
	}
	return e
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) error {
	if _, pat := s.paths.Handler(r); pat != "" {
		var allow []string
		for _, rt := range s.routes {
			if rt.Pattern == pat {
				allow = append(allow, rt.Method)
			}
		}
		sort.Strings(allow)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return errf(http.StatusMethodNotAllowed, "method_not_allowed", "", "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", "))
	}
	return notFound("", "no route %s %s", r.Method, r.URL.Path)
}

// readJSON decodes a request body into v, rejecting unknown fields; an empty
// body leaves v alone when optional.
func readJSON(r *http.Request, v any, optional bool) *Error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return badRequest("", "a JSON body is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return badRequest("", "the body holds more than one JSON value")
	}
	return nil
}

func readBody(r *http.Request) ([]byte, *Error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errf(http.StatusRequestEntityTooLarge, "too_large", "", "the body is larger than %d bytes", mbe.Limit)
		}
		return nil, badRequest("", "reading the body: %v", err)
	}
	if e := checkShape(body); e != nil {
		return nil, e
	}
	return body, nil
}

// jsonError names the field a JSON decoding error is about.
func jsonError(err error) *Error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return badRequest(field, "must be %s, not %s", te.Type.String(), te.Value)
	case errors.As(err, &se):
		return badRequest("", "not valid JSON at byte %d: %v", se.Offset, se)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest(f, "unknown field")
	}
	return badRequest("", "not valid JSON: %v", err)
}
