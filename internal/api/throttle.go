package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"time"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/throttle"
)

// Throttler puts and lifts rate limits on an app's tasks (the anomaly
// guard, which records the events and holds scale-ups meanwhile).
type Throttler interface {
	Throttle(now time.Time, app string, tasks []string, t config.Throttle, by string) (throttle.Entry, error)
	Lift(now time.Time, app, by string) (throttle.Entry, bool)
	Throttled(app string, now time.Time) (throttle.Entry, bool)
}

// ThrottleBody is the body of POST /v1/apps/{name}/throttle, shaped like
// the descriptor's throttle section, plus the tasks (default: all).
type ThrottleBody struct {
	Rate  string   `json:"rate"`
	Burst string   `json:"burst,omitempty"`
	For   string   `json:"for,omitempty"`
	Tasks []string `json:"tasks,omitempty"`
}

// ThrottleState answers the throttle routes: the app's limit, null when
// none is wanted, and what the agents last reported of it.
type ThrottleState struct {
	App      string          `json:"app"`
	Throttle *throttle.Entry `json:"throttle"`
	// Reported is each limited task's state as its agent last reported it
	// (absent where no agent applies limits: the simulator).
	Reported []TaskLimit `json:"reported,omitempty"`
}

// TaskLimit is what one task's agent last reported of hoist's limit on it:
// whether it is applied and the qdiscs' own counters.
type TaskLimit struct {
	Task    string            `json:"task"`
	Applied bool              `json:"applied"`
	Rate    uint64            `json:"rate,omitempty"` // bits/s of the limit found
	Egress  throttle.Counters `json:"egress"`         // sent by the task
	Ingress throttle.Counters `json:"ingress"`        // received by the task
	Error   string            `json:"error,omitempty"`
}

// taskID is what a Swarm task ID looks like (and short forms of it).
var taskID = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)

const maxThrottleTasks = 1000

func (s *Server) throttler() (Throttler, *Error) {
	if s.opt.Throttles == nil {
		return nil, errf(http.StatusNotImplemented, "unavailable", "", "this hoist cannot throttle")
	}
	return s.opt.Throttles, nil
}

func (s *Server) showThrottle(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	t, e := s.throttler()
	if e != nil {
		return e
	}
	if _, _, ok := s.findApp(name); !ok {
		return notFound("name", "no app named %q", name)
	}
	v := ThrottleState{App: name}
	if en, ok := t.Throttled(name, s.opt.Now()); ok {
		v.Throttle = &en
	}
	v.Reported = s.reported(name)
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) setThrottle(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	t, e := s.throttler()
	if e != nil {
		return e
	}
	body, e := readBody(r)
	if e != nil {
		return e
	}
	spec, tasks, e := parseThrottle(body)
	if e != nil {
		return e
	}
	if _, _, ok := s.findApp(name); !ok {
		return notFound("name", "no app named %q", name)
	}
	en, err := t.Throttle(s.opt.Now(), name, tasks, spec, who(r))
	if err != nil {
		return badRequest("", "%v", err)
	}
	writeJSON(w, http.StatusOK, ThrottleState{App: name, Throttle: &en, Reported: s.reported(name)})
	return nil
}

// reported is what the agents report of app's limits (nil without agents).
func (s *Server) reported(app string) []TaskLimit {
	if s.opt.ThrottleReports == nil {
		return nil
	}
	return s.opt.ThrottleReports(app)
}

func (s *Server) liftThrottle(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	t, e := s.throttler()
	if e != nil {
		return e
	}
	if _, _, ok := s.findApp(name); !ok {
		return notFound("name", "no app named %q", name)
	}
	if _, ok := t.Lift(s.opt.Now(), name, who(r)); !ok {
		return notFound("name", "app %q has no rate limit to lift", name)
	}
	writeJSON(w, http.StatusOK, ThrottleState{App: name})
	return nil
}

// parseThrottle reads a ThrottleBody strictly, each problem naming its field.
func parseThrottle(body []byte) (config.Throttle, []string, *Error) {
	var b ThrottleBody
	var spec config.Throttle
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return spec, nil, badRequest(ute.Field, "must be a %s", ute.Type)
		}
		return spec, nil, badRequest("", "the body must be a JSON object such as {\"rate\": \"3Mbit\", \"for\": \"5m\"}: %v", err)
	}
	if dec.More() {
		return spec, nil, badRequest("", "the body must be one JSON object")
	}
	var err error
	if b.Rate == "" {
		return spec, nil, badRequest("rate", "is required (such as 3Mbit)")
	}
	if spec.Rate, err = config.ParseBitRate(b.Rate); err != nil {
		return spec, nil, badRequest("rate", "%v", err)
	}
	if b.Burst != "" {
		if spec.Burst, err = config.ParseBytes(b.Burst); err != nil {
			return spec, nil, badRequest("burst", "%v", err)
		}
	}
	if b.For != "" {
		d, err := time.ParseDuration(b.For)
		if err != nil || d <= 0 {
			return spec, nil, badRequest("for", "must be a positive duration such as 5m, not %q", b.For)
		}
		spec.For = config.Duration(d)
	}
	if field, problem := config.CheckThrottle(spec); field != "" {
		return spec, nil, badRequest(field, "%s", problem)
	}
	if len(b.Tasks) > maxThrottleTasks {
		return spec, nil, badRequest("tasks", "at most %d tasks", maxThrottleTasks)
	}
	for i, id := range b.Tasks {
		if !taskID.MatchString(id) {
			return spec, nil, badRequest("tasks", "tasks[%d] %q is not a task ID", i, id)
		}
	}
	return spec, b.Tasks, nil
}
