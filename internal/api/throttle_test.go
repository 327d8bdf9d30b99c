package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/throttle"
)

// POST sets the app's limit in the book (operator), GET shows it (viewer),
// DELETE lifts it; bad bodies are refused naming the field.
func TestThrottleRoutes(t *testing.T) {
	e := newEnv(t, 0)
	p := "/v1/apps/web/throttle"
	e.expect(e.do("GET", p, "viewer", ""), http.StatusOK)
	if r := e.do("GET", p, "viewer", ""); r.body["throttle"] != nil {
		t.Fatalf("a limit before any: %s", r.raw)
	}
	e.expect(e.do("POST", p, "viewer", `{"rate":"3Mbit"}`), http.StatusForbidden)
	e.expect(e.do("POST", p, "", `{"rate":"3Mbit"}`), http.StatusUnauthorized)

	for _, c := range []struct{ body, field string }{
		{`{}`, "rate"},
		{`{"rate":"fast"}`, "rate"},
		{`{"rate":"1kbit"}`, "rate"},
		{`{"rate":3000000}`, "rate"},
		{`{"rate":"3Mbit","for":"soon"}`, "for"},
		{`{"rate":"3Mbit","for":"-5m"}`, "for"},
		{`{"rate":"3Mbit","burst":"lots"}`, "burst"},
		{`{"rate":"3Mbit","tasks":["ok","bad id\n"]}`, "tasks"},
		{`{"rate":"3Mbit","speed":1}`, ""},
		{`[1]`, ""},
	} {
		r := e.do("POST", p, "operator", c.body)
		e.expectField(r, http.StatusBadRequest, c.field)
		if r.errCode() != "invalid" {
			t.Errorf("%s: code %q", c.body, r.errCode())
		}
	}
	e.expectField(e.do("POST", "/v1/apps/nope/throttle", "operator", `{"rate":"3Mbit"}`), http.StatusNotFound, "name")

	now := e.stack.Cluster.Now()
	r := e.expect(e.do("POST", p, "operator", `{"rate":"3Mbit","burst":"32KiB","for":"5m","tasks":["t1"]}`), http.StatusOK)
	en, ok := e.book.Get("web", now)
	if !ok || en.Limit.Rate != 3e6 || en.Limit.Burst != 32<<10 || len(en.Tasks) != 1 || en.Tasks[0] != "t1" || !en.Until.Equal(now.Add(5*time.Minute)) {
		t.Fatalf("book %+v %v; answer %s", en, ok, r.raw)
	}
	if got := e.do("GET", p, "viewer", ""); got.body["throttle"] == nil || !strings.Contains(got.raw, `"t1"`) {
		t.Fatalf("GET after POST: %s", got.raw)
	}
	e.expect(e.do("DELETE", p, "operator", ""), http.StatusOK)
	if _, ok := e.book.Get("web", now); ok {
		t.Fatal("still limited after DELETE")
	}
	e.expectField(e.do("DELETE", p, "operator", ""), http.StatusNotFound, "name")
	var kinds []string
	evs, err := e.db.Page(events.Filter{Kinds: []events.Kind{events.AppThrottle}}, 0, true, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		kinds = append(kinds, ev.Reason)
	}
	if len(kinds) != 2 || !strings.Contains(kinds[0], "applied by API (operator)") || !strings.Contains(kinds[1], "lifted (by API (operator))") {
		t.Fatalf("events %q", kinds)
	}
}

// GET shows what the agents report of the limit beside it; without agents
// (the simulator) the field is absent.
func TestThrottleReported(t *testing.T) {
	e := newEnv(t, 0)
	p := "/v1/apps/web/throttle"
	if r := e.expect(e.do("GET", p, "viewer", ""), http.StatusOK); strings.Contains(r.raw, "reported") {
		t.Fatalf("reports without agents: %s", r.raw)
	}
	var asked []string
	e.srv.opt.ThrottleReports = func(app string) []TaskLimit {
		asked = append(asked, app)
		return []TaskLimit{{Task: "t1", Applied: true, Rate: 3e6, Egress: throttle.Counters{Bytes: 1500, Drops: 2, Overlimits: 40}},
			{Task: "t2", Error: "no such container"}}
	}
	e.expect(e.do("POST", p, "operator", `{"rate":"3Mbit"}`), http.StatusOK)
	r := e.expect(e.do("GET", p, "viewer", ""), http.StatusOK)
	rep, _ := r.body["reported"].([]any)
	if len(rep) != 2 || len(asked) != 2 || asked[1] != "web" {
		t.Fatalf("reported %s (asked for %q)", r.raw, asked)
	}
	t1 := rep[0].(map[string]any)
	eg := t1["egress"].(map[string]any)
	if t1["task"] != "t1" || t1["applied"] != true || t1["rate"] != 3e6 || eg["overlimits"] != 40.0 || eg["drops"] != 2.0 || eg["bytes"] != 1500.0 {
		t.Fatalf("t1: %v", t1)
	}
	if t2 := rep[1].(map[string]any); t2["error"] != "no such container" || t2["applied"] != false {
		t.Fatalf("t2: %v", t2)
	}
}

// An app's view (show and list) carries its limit while one is wanted.
func TestAppViewShowsThrottle(t *testing.T) {
	e := newEnv(t, 1)
	if r := e.expect(e.do("GET", "/v1/apps/web", "viewer", ""), http.StatusOK); r.body["throttle"] != nil {
		t.Fatalf("a limit before any: %s", r.raw)
	}
	e.expect(e.do("POST", "/v1/apps/web/throttle", "operator", `{"rate":"3Mbit","for":"5m"}`), http.StatusOK)
	r := e.expect(e.do("GET", "/v1/apps/web", "viewer", ""), http.StatusOK)
	th, _ := r.body["throttle"].(map[string]any)
	if th == nil || th["limit"].(map[string]any)["rate"] != 3e6 || th["app"] != "web" {
		t.Fatalf("show: %s", r.raw)
	}
	list := e.expect(e.do("GET", "/v1/apps", "viewer", ""), http.StatusOK)
	limited := 0
	for _, a := range list.body["apps"].([]any) {
		if a.(map[string]any)["throttle"] != nil {
			limited++
		}
	}
	if limited != 1 {
		t.Fatalf("%d apps limited in the list: %s", limited, list.raw)
	}
}
