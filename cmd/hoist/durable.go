package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/hoist/hoist/internal/api"
	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/store"
)

// durable is hoist's state for one run: on disk under --data (machine
// records, events, registered apps, policy overrides), or in memory.
type durable struct {
	bolt    *store.Bolt // nil without --data
	catalog *api.Catalog
	base    *config.Config // the descriptor before policy overrides
}

// openDurable opens the state for cfg and applies the stored policy
// overrides to cfg in place (the descriptor as read stays in d.base). A
// non-nil registry keeps the apps and overrides instead (--ha: the swarm).
func openDurable(ctx context.Context, cfg *config.Config, opt runtimeOptions, registry api.Registry) (*durable, error) {
	d := &durable{}
	var reg api.Registry = api.NewMemoryRegistry()
	if opt.Data != "" {
		// The data directory holds secrets (agent credential, TLS key) and
		// the state: refuse one another user could write to, as ssh does.
		if err := os.MkdirAll(opt.Data, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		if err := auth.CheckPrivateDir(opt.Data); err != nil {
			return nil, err
		}
		b, err := store.OpenBolt(opt.Data, store.BoltOptions{Retention: opt.Retention, Logger: opt.Logger})
		if err != nil {
			return nil, err
		}
		d.bolt, reg = b, b
	}
	if registry != nil {
		reg = registry
	}
	cat, err := api.NewCatalog(ctx, reg)
	if err != nil {
		d.close()
		return nil, err
	}
	d.catalog = cat
	base := *cfg
	d.base = &base
	*cfg = *cat.Effective(&base)
	return d, nil
}

// recorder is where the engine's events go: the durable log (which numbers
// them) and then mem, which the terminal and the exporter follow.
func (d *durable) recorder(mem *events.Memory) engine.Recorder {
	if d.bolt == nil {
		return mem
	}
	return teeRecorder{primary: d.bolt, mirror: mem}
}

// log is the event log the API pages through.
func (d *durable) log(mem *events.Memory) api.EventLog {
	if d.bolt == nil {
		return api.MemoryLog{Memory: mem}
	}
	return d.bolt
}

// store keeps the machine records.
func (d *durable) store() engine.Store {
	if d.bolt == nil {
		return store.NewMemory()
	}
	return d.bolt
}

func (d *durable) close() {
	if d.bolt != nil {
		if err := d.bolt.Close(); err != nil {
			slog.Error("closing the data store", "err", err)
		}
	}
}

// teeRecorder records into the durable log and then into the in-memory one
// (which numbers its copies itself).
type teeRecorder struct {
	primary *store.Bolt
	mirror  *events.Memory
}

func (t teeRecorder) Record(e events.Event) events.Event {
	e = t.primary.Record(e)
	t.mirror.Record(e)
	return e
}
