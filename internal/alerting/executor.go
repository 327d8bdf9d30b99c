package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/policy"
)

// Event kinds of the alerting feature (subject "alert").
const (
	KindFiring   events.Kind = "alert.firing"   // an alert began firing for an app or pool
	KindResolved events.Kind = "alert.resolved" // it stopped (or expired)
	KindRules    events.Kind = "alert.rules"    // a rule file written or removed, a reload failed
)

// Engine is what the executor needs of the engine: pools to scale, and the
// log its events go to.
type Engine interface {
	Config() *config.Config
	RequestPoolStep(ctx context.Context, pool string, delta int, reason string) (cluster.PoolRequest, error)
	Record(ev events.Event) events.Event
	Now() time.Time
}

var _ Engine = (*engine.Engine)(nil)

// Executor is MiCADO's alert executor for hoist. It keeps which alerts fire,
// deduplicated by fingerprint (Alertmanager repeats a firing alert; a repeat
// changes nothing), until they are resolved. Apps: the engine's alert
// policies read the firing state each tick (Firing), so replica bounds,
// cooldowns and events stay with the engine. Pools: a firing alert asks the
// engine for StepUp more (or StepDown fewer) machines, once and then again
// every Repeat while Alertmanager keeps repeating it; bounds and the event
// are the engine's (RequestPoolStep), the pool's cooldown is kept here.
type Executor struct {
	eng    Engine
	expire time.Duration
	log    *slog.Logger

	mu       sync.Mutex
	alerts   map[string]*active // by fingerprint
	poolUp   map[string]time.Time
	poolDown map[string]time.Time
}

var _ engine.AlertSource = (*Executor)(nil)

// active is one firing alert.
type active struct {
	target
	fp      string
	summary string
	since   time.Time // first received firing (engine clock)
	seen    time.Time // last received firing
	stepped time.Time // pools: last step asked for
}

// NewExecutor makes an executor acting through eng. expire > 0 forgets a
// firing alert Alertmanager has not repeated for that long.
func NewExecutor(eng Engine, expire time.Duration, log *slog.Logger) *Executor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Executor{eng: eng, expire: expire, log: log, alerts: map[string]*active{},
		poolUp: map[string]time.Time{}, poolDown: map[string]time.Time{}}
}

// Firing implements engine.AlertSource.
func (x *Executor) Firing(app string) []policy.Firing {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []policy.Firing
	for _, a := range x.alerts {
		if a.app == app {
			out = append(out, policy.Firing{Policy: a.policy, Kind: a.kind, Name: a.name, Since: a.since})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// Result says what one notification changed.
type Result struct {
	Firing   int `json:"firing"`   // alerts that began firing
	Repeated int `json:"repeated"` // firing alerts already known (deduplicated)
	Resolved int `json:"resolved"`
	Ignored  int `json:"ignored"` // not hoist's alerts, or resolved ones it did not know
	// PoolSteps are the pool changes asked for.
	PoolSteps int `json:"pool_steps"`
}

// poolStep is a pool change decided under the lock, asked for after it (the
// engine takes its own lock).
type poolStep struct {
	pool, name, kind, summary string
	delta                     int
	since                     time.Time
}

// Apply records a decoded notification and asks for the pool changes due.
func (x *Executor) Apply(ctx context.Context, p *Payload) Result {
	// The engine's config first: the engine calls Firing under its own lock,
	// so the executor never asks the engine anything while holding its lock.
	now, cfg := x.eng.Now(), x.eng.Config()
	var res Result
	x.mu.Lock()
	evs := x.expireLocked(now)
	for _, al := range p.Alerts {
		t, ok, err := classify(al)
		if err != nil || !ok {
			res.Ignored++ // Decode refused the errors already
			continue
		}
		cur := x.alerts[al.Fingerprint]
		switch al.Status {
		case StatusFiring:
			if cur != nil {
				cur.seen = now
				res.Repeated++
				break
			}
			cur = &active{target: t, fp: al.Fingerprint, summary: al.Annotations["summary"], since: now, seen: now}
			x.alerts[al.Fingerprint] = cur
			res.Firing++
			evs = append(evs, events.Event{Time: now, Kind: KindFiring, App: t.app, Pool: t.pool, Reason: describe(cur, "firing")})
		case StatusResolved:
			if cur == nil {
				res.Ignored++
				break
			}
			delete(x.alerts, al.Fingerprint)
			res.Resolved++
			evs = append(evs, events.Event{Time: now, Kind: KindResolved, App: t.app, Pool: t.pool,
				Reason: describe(cur, fmt.Sprintf("resolved after %s", now.Sub(cur.since).Round(time.Second)))})
		}
	}
	steps := x.poolStepsLocked(cfg, now)
	x.mu.Unlock()

	for _, e := range evs {
		x.eng.Record(e)
	}
	for _, s := range steps {
		x.askPool(ctx, s)
	}
	res.PoolSteps = len(steps)
	return res
}

// Step acts on what fires without a new notification: pool alerts due
// again (every Repeat while they fire) and expired alerts. The runtime calls
// it every second or so.
func (x *Executor) Step(ctx context.Context) int {
	now, cfg := x.eng.Now(), x.eng.Config()
	x.mu.Lock()
	evs := x.expireLocked(now)
	steps := x.poolStepsLocked(cfg, now)
	x.mu.Unlock()
	for _, e := range evs {
		x.eng.Record(e)
	}
	for _, s := range steps {
		x.askPool(ctx, s)
	}
	return len(steps)
}

// poolStepsLocked decides which pool alerts act now, and marks them. One
// step per pool and direction at a time: a second alert of the same pool
// does not double it. Overloaded wins over underloaded.
func (x *Executor) poolStepsLocked(cfg *config.Config, now time.Time) []poolStep {
	var out []poolStep
	done := map[string]bool{}
	all := x.sortedLocked()
	// Overloaded alerts first, so they win a pool that also has underloaded ones.
	sort.SliceStable(all, func(i, j int) bool { return all[i].kind == policy.Overloaded && all[j].kind != policy.Overloaded })
	for _, a := range all {
		if a.pool == "" || done[a.pool] {
			continue
		}
		pool, ok := cfg.Pool(a.pool)
		if !ok {
			continue
		}
		stepUp, stepDown, repeat := 1, 1, pool.Cooldown.D()
		if pa := pool.Alert; pa != nil {
			stepUp, stepDown, repeat = pa.StepUp, pa.StepDown, pa.Repeat.D()
		}
		up, down := x.poolUp[a.pool], x.poolDown[a.pool]
		delta := stepUp
		if a.kind == policy.Overloaded {
			done[a.pool] = true
			if !up.IsZero() && now.Sub(up) < repeat {
				continue
			}
			x.poolUp[a.pool] = now
		} else {
			delta = -stepDown
			// The pool's cooldown: no removal soon after machines were added.
			if (!up.IsZero() && now.Sub(up) < pool.Cooldown.D()) || (!down.IsZero() && now.Sub(down) < repeat) {
				continue
			}
			done[a.pool] = true
			x.poolDown[a.pool] = now
		}
		a.stepped = now
		out = append(out, poolStep{pool: a.pool, name: a.name, kind: a.kind, summary: a.summary, delta: delta, since: a.since})
	}
	return out
}

func (x *Executor) askPool(ctx context.Context, s poolStep) {
	why := fmt.Sprintf("alert %s firing for %s", s.name, x.eng.Now().Sub(s.since).Round(time.Second))
	if s.summary != "" {
		why += " (" + s.summary + ")"
	}
	// A step, resolved by the engine against the count the pool is heading
	// to, so it neither undoes nor repeats a request still under way.
	if _, err := x.eng.RequestPoolStep(ctx, s.pool, s.delta, why); err != nil {
		x.eng.Record(events.Event{Kind: events.EngineError, Pool: s.pool, Reason: "alert executor: " + why + ": " + err.Error()})
	}
}

// Forget drops the alerts of apps and pools that no longer exist, so an app
// deployed again later starts without its predecessor's alerts.
func (x *Executor) Forget(appExists, poolExists func(string) bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for fp, a := range x.alerts {
		if (a.app != "" && !appExists(a.app)) || (a.pool != "" && !poolExists(a.pool)) {
			delete(x.alerts, fp)
		}
	}
}

// expireLocked forgets alerts Alertmanager stopped repeating and returns
// the events to record once the lock is released.
func (x *Executor) expireLocked(now time.Time) []events.Event {
	if x.expire <= 0 {
		return nil
	}
	var evs []events.Event
	for _, a := range x.sortedLocked() {
		if now.Sub(a.seen) > x.expire {
			delete(x.alerts, a.fp)
			evs = append(evs, events.Event{Time: now, Kind: KindResolved, App: a.app, Pool: a.pool,
				Reason: describe(a, fmt.Sprintf("expired: not repeated by Alertmanager for %s", x.expire))})
		}
	}
	return evs
}

func (x *Executor) sortedLocked() []*active {
	out := make([]*active, 0, len(x.alerts))
	for _, a := range x.alerts {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].since.Equal(out[j].since) {
			return out[i].since.Before(out[j].since)
		}
		return out[i].fp < out[j].fp
	})
	return out
}

// State is a copy of the firing alerts (tests, status).
type State struct {
	Fingerprint, Name, Kind, App, Pool string
	Policy                             int
	Since, Seen, Stepped               time.Time
}

// State returns the firing alerts, oldest first.
func (x *Executor) State() []State {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []State
	for _, a := range x.sortedLocked() {
		out = append(out, State{Fingerprint: a.fp, Name: a.name, Kind: a.kind, App: a.app, Pool: a.pool, Policy: a.policy, Since: a.since, Seen: a.seen, Stepped: a.stepped})
	}
	return out
}

func describe(a *active, what string) string {
	subject := "app " + a.app
	if a.app == "" {
		subject = "pool " + a.pool
	}
	s := fmt.Sprintf("%s %s for %s", a.name, what, subject)
	if a.policy >= 0 {
		s += fmt.Sprintf(" (policies[%d])", a.policy)
	}
	if a.summary != "" {
		s += ": " + a.summary
	}
	return s
}

// ServeHTTP is the webhook: POST Alertmanager's notification. A refused
// notification (400) changes nothing; Alertmanager does not retry a 4xx.
func (x *Executor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST Alertmanager's webhook payload"})
		return
	}
	p, err := Decode(http.MaxBytesReader(w, r.Body, MaxPayload+1))
	if err != nil {
		x.log.Warn("alert webhook: refused", "err", err)
		status := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	res := x.Apply(r.Context(), p)
	writeJSON(w, http.StatusOK, res)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
