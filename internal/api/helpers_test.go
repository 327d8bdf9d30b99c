package api

import (
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hoist/hoist/internal/events"
)

func eventsFilter(kind string) events.Filter {
	return events.Filter{Kinds: []events.Kind{events.Kind(kind)}}
}

func eventN(i int) events.Event {
	return events.Event{Time: time.Date(2026, 1, 5, 0, i, 0, 0, time.UTC), Kind: events.EngineInfo, App: "a", Reason: "n"}
}

// localRequest is a request for a handler, as a local client sends it
// (httptest's default Host, example.com, is refused by the fence).
func localRequest(method, path string) *http.Request {
	r := httptest.NewRequest(method, path, nil)
	r.Host = "127.0.0.1:8080"
	return r
}
