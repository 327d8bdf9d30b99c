package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/store"
	"github.com/hoist/hoist/internal/throttle"
)

// A rate limit survives a restart of hoist: the book of the next run reads
// it from the data directory, still ending when it ended; one expired
// meanwhile is dropped and deleted; a lift is a delete.
func TestThrottlesSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	b, err := store.OpenBolt(dir, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	book, err := throttle.OpenBook(ctx, b, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	web := throttle.Entry{App: "web", Tasks: []string{"t2", "t1"}, Limit: throttle.Limit{Rate: 3e6, Burst: 32 << 10},
		Since: t0, Until: t0.Add(10 * time.Minute), By: "anomaly", Reason: "net_rx anomaly"}
	book.Set(web)
	book.Set(throttle.Entry{App: "api", Limit: throttle.Limit{Rate: 1e6}, Since: t0, Until: t0.Add(time.Minute), By: "ops"})
	book.Set(throttle.Entry{App: "gone", Limit: throttle.Limit{Rate: 1e6}, Since: t0, Until: t0.Add(time.Hour), By: "ops"})
	book.Lift("gone")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// Restarted two minutes later: api's limit has expired, web's has not.
	b, err = store.OpenBolt(dir, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := t0.Add(2 * time.Minute)
	book, err = throttle.OpenBook(ctx, b, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := book.Active(now)
	web.Tasks = []string{"t1", "t2"}
	if len(got) != 1 || !reflect.DeepEqual(got[0], web) {
		t.Fatalf("after the restart: %+v, want only %+v", got, web)
	}
	stored, err := b.Throttles(ctx)
	if err != nil || len(stored) != 1 || stored[0].App != "web" {
		t.Fatalf("stored after the restart: %+v %v (the expired limit should be deleted)", stored, err)
	}
	// Expiry still applies to a limit kept from the previous run.
	if ex := book.Expire(t0.Add(10 * time.Minute)); len(ex) != 1 || ex[0].App != "web" {
		t.Fatalf("expired %+v", ex)
	}
	if stored, _ := b.Throttles(ctx); len(stored) != 0 {
		t.Fatalf("stored after expiry: %+v", stored)
	}
	if err := b.DeleteThrottle(ctx, "web"); err != nil {
		t.Fatalf("deleting a missing limit: %v", err)
	}
}
