package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/store"
)

// realStore writes a store with some of everything (machines, enough events
// for several pages, apps, overrides) and returns its file's bytes.
func realStore(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	b := open(t, dir, store.Retention{})
	for i := 0; i < 40; i++ {
		r := cluster.MachineRecord{Name: "workers-" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Pool: "workers", OrderedAt: t0}
		r.SetPhase(cluster.PhaseReady, t0, "ready")
		if err := b.PutMachine(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 600; i++ {
		e := ev(i)
		e.Reason = strings.Repeat("why ", i%40)
		b.Record(e)
	}
	for _, name := range []string{"batch", "api", "web"} {
		app := config.App{Name: name, Image: "demo", Pools: []string{"workers"}, Replicas: config.Replicas{Min: 1, Max: 3}}
		if err := b.PutApp(ctx, app); err != nil {
			t.Fatal(err)
		}
		if err := b.PutOverride(ctx, store.Override{App: name, Replicas: config.Replicas{Min: 2, Max: 4}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// openDamaged opens a store made of data: it must either refuse with an
// error wrapping ErrCorrupt that names the file, or open and then answer
// every read with records or an error. A panic or a fault fails the test
// (a fault kills the test binary, which fails it too).
func openDamaged(t testing.TB, data []byte) (refused bool) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, store.FileName)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := store.OpenBolt(dir, store.BoltOptions{})
	if err != nil {
		if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Fatalf("want an error wrapping ErrCorrupt naming %s, got %v", path, err)
		}
		t.Log(err)
		return true
	}
	ctx := context.Background()
	b.Machines(ctx)
	b.Apps(ctx)
	b.Overrides(ctx)
	b.Page(events.Filter{}, 0, true, 1000)
	b.Record(ev(1000))
	b.Flush()
	if err := b.Close(); err != nil && !errors.Is(err, store.ErrCorrupt) {
		t.Logf("close: %v", err)
	}
	return false
}

func TestDamagedStoreCutShort(t *testing.T) {
	data := realStore(t)
	if len(data) < 8*4096 {
		t.Fatalf("store too small to cut meaningfully: %d bytes", len(data))
	}
	for _, n := range []int{len(data) / 2, len(data) / 3, 3 * 4096, 4096 + 100, 100} {
		if !openDamaged(t, data[:n]) {
			t.Errorf("cut to %d of %d bytes: opened without complaint", n, len(data))
		}
	}
}

func TestDamagedStoreFlippedBytes(t *testing.T) {
	data := realStore(t)
	// Both meta pages gone: refused.
	bad := append([]byte(nil), data...)
	for _, off := range []int{16 + 4, 4096 + 16 + 4} { // each meta page's magic
		bad[off] ^= 0xff
	}
	if !openDamaged(t, bad) {
		t.Error("both meta pages flipped: opened")
	}
	// Flips across the file: at every page's header (page ID, flags,
	// count), and in the middle of pages. Each must be refused or survive
	// reads; none may crash.
	refused, tried := 0, 0
	for page := 2; page*4096 < len(data); page++ {
		if !bytes.ContainsFunc(data[page*4096:(page+1)*4096], func(r rune) bool { return r != 0 }) {
			continue // never written: bbolt's room to grow
		}
		for _, in := range []int{0, 8, 10, 1000} {
			bad := append([]byte(nil), data...)
			bad[page*4096+in] ^= 0x5a
			tried++
			if openDamaged(quiet{t}, bad) {
				refused++
			}
		}
	}
	t.Logf("%d of %d flipped copies refused at open; the rest opened and read without crashing", refused, tried)
	if refused == 0 {
		t.Error("no flipped copy was refused: the open-time check sees nothing")
	}
}

// quiet drops the logs of the many flipped copies.
type quiet struct{ testing.TB }

func (quiet) Log(...any) {}
