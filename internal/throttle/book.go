package throttle

import (
	"context"
	"fmt"
	"log/slog"
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

// Store keeps a book's entries across restarts of hoist: its state under
// --data (store.Bolt), or the swarm's hoist-state service with --ha.
type Store interface {
	Throttles(ctx context.Context) ([]Entry, error)
	PutThrottle(ctx context.Context, e Entry) error
	DeleteThrottle(ctx context.Context, app string) error
}

// storeTimeout bounds one write through to the store (the swarm's, with
// --ha, is a network call made from the control loop).
const storeTimeout = 10 * time.Second

// Book holds every app's entry. Safe for concurrent use.
type Book struct {
	mu      sync.Mutex
	entries map[string]Entry
	store   Store // nil: in memory only
	log     *slog.Logger
}

// NewBook returns an empty book, in memory only.
func NewBook() *Book { return &Book{entries: map[string]Entry{}} }

// OpenBook returns a book that writes every change through to st and
// starts with st's entries still active at now; the expired ones are
// deleted from st. A failed write is logged and the book goes on in memory
// (the limit is still applied; the next change of the app's entry writes
// it again): a store that cannot be written must not stop the guard.
func OpenBook(ctx context.Context, st Store, now time.Time, log *slog.Logger) (*Book, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Book{store: st, log: log}
	active, expired, err := b.read(ctx, now)
	if err != nil {
		return nil, err
	}
	for _, e := range expired {
		if err := st.DeleteThrottle(ctx, e.App); err != nil {
			log.Warn("deleting an expired rate limit", "app", e.App, "err", err)
		}
	}
	for _, e := range active {
		log.Info("rate limit kept from the previous run", "app", e.App, "tasks", len(e.Tasks), "rate", e.Limit.String(), "until", e.Until)
	}
	b.entries = active
	return b, nil
}

// read is the store's entries: those active at now, by app, and the
// expired.
func (b *Book) read(ctx context.Context, now time.Time) (map[string]Entry, []Entry, error) {
	stored, err := b.store.Throttles(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read the stored rate limits: %w", err)
	}
	active := make(map[string]Entry, len(stored))
	var expired []Entry
	for _, e := range stored {
		if now.Before(e.Until) {
			active[e.App] = e
		} else {
			expired = append(expired, e)
		}
	}
	return active, expired, nil
}

// Reload replaces the book's entries with the store's still active at now:
// with --ha, a new leader takes over the limits its predecessor wanted, and
// a standby follows them (its collector tells the agents the same).
func (b *Book) Reload(ctx context.Context, now time.Time) error {
	if b.store == nil {
		return nil
	}
	active, _, err := b.read(ctx, now)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.entries = active
	return nil
}

// put and del write through to the store. b.mu is held: the store sees the
// changes in the book's order.
func (b *Book) put(e Entry) {
	if b.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := b.store.PutThrottle(ctx, e); err != nil {
		b.log.Error("storing a rate limit (kept in memory only)", "app", e.App, "err", err)
	}
}

func (b *Book) del(app string) {
	if b.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := b.store.DeleteThrottle(ctx, app); err != nil {
		b.log.Error("deleting a stored rate limit", "app", app, "err", err)
	}
}

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
	b.put(e)
	return renewed
}

// Lift removes app's entry, returning it.
func (b *Book) Lift(app string) (Entry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[app]
	delete(b.entries, app)
	if ok {
		b.del(app)
	}
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
			b.del(app)
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
