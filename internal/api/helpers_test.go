package api

import (
	"time"

	"github.com/hoist/hoist/internal/events"
)

func eventsFilter(kind string) events.Filter {
	return events.Filter{Kinds: []events.Kind{events.Kind(kind)}}
}

func eventN(i int) events.Event {
	return events.Event{Time: time.Date(2026, 1, 5, 0, i, 0, 0, time.UTC), Kind: events.EngineInfo, App: "a", Reason: "n"}
}
