package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/api"
	"github.com/hoist/hoist/internal/events"
)

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"web":                     "web",
		"héllo wörld ✓":           "héllo wörld ✓",
		"a\nb":                    `a\nb`,
		"evil\x1b[2J\x1b]0;x\a":   `evil\x1b[2J\x1b]0;x\a`,
		"tab\there\r":             `tab\there\r`,
		"bad\xffutf8":             `bad\xffutf8`,
		"line\u2028sep\u202eRTL":  `line\u2028sep\u202eRTL`,
		"\u009b31m C1":            `\u009b31m C1`,
		"real \ufffd replacement": "real \ufffd replacement",
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
	if got := cleanLines("a: \x1b[1m\nb: ok\n"); got != "a: \\x1b[1m\nb: ok\n" {
		t.Errorf("cleanLines: %q", got)
	}
}

// A name, image or reason from the server holding a newline and terminal
// escapes is printed escaped by every verb: one line stays one line, and no
// escape sequence reaches the terminal. (A stand-in server: the real API may
// refuse such names, which is no reason for the CLI to trust it.)
func TestClientOutputIsEscaped(t *testing.T) {
	const evil = "busybox\n2026-01-01 00:00:00 app.scale forged\x1b[31m\x1b]0;pwned\a"
	ev := events.Event{Seq: 1, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Kind: events.AppScale, App: "web" + evil, Reason: "because" + evil}
	answers := map[string]any{
		"/v1/apps":       api.AppList{Apps: []api.AppView{{Name: "web" + evil, Source: "api", Image: evil}}},
		"/v1/apps/web":   api.AppView{Name: "web" + evil, Source: "api", Image: evil, Events: []events.Event{ev}},
		"/v1/pools":      api.PoolList{Pools: []api.PoolView{{Name: "workers" + evil, Provider: "sim" + evil}}},
		"/v1/events":     api.EventPage{Events: []events.Event{ev}, LastSeq: 1},
		"/v1/reload":     api.ReloadResult{File: "hoist.yaml" + evil, Warnings: []string{evil}},
		"/v1/pools/w/x":  nil,
		"/v1/apps/web/p": nil,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/events/stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			data, _ := json.Marshal(events.Event{Seq: 2, Kind: events.AppScale, App: "web", Reason: evil})
			w.Write([]byte("data: " + string(data) + "\n\n"))
			return
		}
		v, ok := answers[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(api.ErrorBody{Error: &api.Error{Code: "not_found", Message: "no app" + evil}})
			return
		}
		json.NewEncoder(w).Encode(v)
	}))
	defer srv.Close()
	for _, args := range [][]string{
		{"apps", "ls"}, {"apps", "show", "web"}, {"pool", "ls"}, {"events"}, {"reload"},
	} {
		out, err := cli(t, append(args, "--server", srv.URL)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		checkEscaped(t, args, out)
	}
	// Following the stream.
	out, stop := runCLI(t, "events", "-f", "--server", srv.URL)
	waitUntil(t, "the streamed event", func() bool { return strings.Contains(out.String(), "pwned") })
	stop()
	checkEscaped(t, []string{"events", "-f"}, out.String())

	// An error message from the server, as main prints it.
	_, err := cli(t, "apps", "show", "nope", "--server", srv.URL)
	if err == nil || !strings.Contains(err.Error(), "\n") {
		t.Fatalf("expected the server's raw message in the error: %v", err)
	}
	checkEscaped(t, []string{"error"}, clean(err.Error())+"\n")
}

func checkEscaped(t *testing.T, args []string, out string) {
	t.Helper()
	if strings.ContainsAny(out, "\x1b\a") {
		t.Errorf("%v: an escape reached the output: %q", args, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "2026-01-01 00:00:00 app.scale forged") {
			t.Errorf("%v: a forged line: %q", args, out)
		}
	}
	if !strings.Contains(out, `busybox\n2026`) {
		t.Errorf("%v: the newline is not shown escaped: %q", args, out)
	}
}
