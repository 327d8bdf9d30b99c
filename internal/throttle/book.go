package throttle

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// Entry is an app's limit as hoist wants it: desired state that the agents
// reconcile at every scrape until it expires or is lifted.
type Entry struct {
	App string `json:"app"`
	// Tasks are the task IDs limited; empty: every running task of the app.
	Tasks  []string  `json:"tasks,omitempty"`
	Limit  Limit     `json:"limit"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until"`
	By     string    `json:"by"` // "anomaly" or "operator"
	Reason string    `json:"reason,omitempty"`
}

// Covers reports whether the entry limits the task.
func (e Entry) Covers(taskID string) bool {
	return len(e.Tasks) == 0 || slices.Contains(e.Tasks, taskID)
}

// Want is one task's limit, as sent to the agent of its node.
type Want struct {
	TaskID string `json:"task_id"`
	Limit
}

// Book holds every app's entry. Safe for concurrent use.
type Book struct {
	mu      sync.Mutex
	entries map[string]Entry
}

// NewBook returns an empty book.
func NewBook() *Book { return &Book{entries: map[string]Entry{}} }

// Set stores e as its app's entry; renewed says whether one was active at
// e.Since (the renewal keeps the first Since).
func (b *Book) Set(e Entry) (renewed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e.Tasks = slices.Clone(e.Tasks)
	sort.Strings(e.Tasks)
	if old, ok := b.entries[e.App]; ok && e.Since.Before(old.Until) {
		renewed = true
		e.Since = old.Since
	}
	b.entries[e.App] = e
	return renewed
}

// Lift removes app's entry, returning it.
func (b *Book) Lift(app string) (Entry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[app]
	delete(b.entries, app)
	return e, ok
}

// Get is app's entry if it is active at now.
func (b *Book) Get(app string, now time.Time) (Entry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[app]
	return e, ok && now.Before(e.Until)
}

// Expire removes and returns the entries that ended by now.
func (b *Book) Expire(now time.Time) []Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Entry
	for app, e := range b.entries {
		if !now.Before(e.Until) {
			out = append(out, e)
			delete(b.entries, app)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].App < out[j].App })
	return out
}

// Active returns the entries active at now, by app.
func (b *Book) Active(now time.Time) []Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Entry, 0, len(b.entries))
	for _, e := range b.entries {
		if now.Before(e.Until) {
			e.Tasks = slices.Clone(e.Tasks)
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].App < out[j].App })
	return out
}

// String is the limit as tc writes a rate: "3Mbit".
func (l Limit) String() string {
	for _, u := range []struct {
		name string
		v    uint64
	}{{"Gbit", 1e9}, {"Mbit", 1e6}, {"kbit", 1e3}} {
		if l.Rate >= u.v && l.Rate%u.v == 0 {
			return fmt.Sprintf("%d%s", l.Rate/u.v, u.name)
		}
	}
	return fmt.Sprintf("%dbit", l.Rate)
}
