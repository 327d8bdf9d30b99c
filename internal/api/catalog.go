package api

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/store"
)

// Registry keeps the apps registered through the API and the policy
// overrides of descriptor apps.
type Registry interface {
	Apps(ctx context.Context) ([]config.App, error)
	PutApp(ctx context.Context, a config.App) error
	DeleteApp(ctx context.Context, name string) error
	Overrides(ctx context.Context) (map[string]store.Override, error)
	PutOverride(ctx context.Context, o store.Override) error
	DeleteOverride(ctx context.Context, app string) error
}

var (
	_ Registry = (*store.Bolt)(nil)
	_ Registry = (*MemoryRegistry)(nil)
)

// Catalog is the registry with a cache in front: the engine asks for the
// registered apps every tick (ExtraApps) and must not wait for a disk. Every
// change is written to the registry first, so a failed write changes nothing.
type Catalog struct {
	mu        sync.RWMutex
	reg       Registry
	apps      map[string]config.App
	overrides map[string]store.Override
}

// NewCatalog loads reg.
func NewCatalog(ctx context.Context, reg Registry) (*Catalog, error) {
	apps, err := reg.Apps(ctx)
	if err != nil {
		return nil, err
	}
	ovs, err := reg.Overrides(ctx)
	if err != nil {
		return nil, err
	}
	c := &Catalog{reg: reg, apps: map[string]config.App{}, overrides: ovs}
	for _, a := range apps {
		a.SetDefaults()
		c.apps[a.Name] = a
	}
	return c, nil
}

// Reload reads the registry again: another process may have written it
// (hoist run --ha, after a takeover).
func (c *Catalog) Reload(ctx context.Context) error {
	fresh, err := NewCatalog(ctx, c.reg)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.apps, c.overrides = fresh.apps, fresh.overrides
	return nil
}

// ExtraApps is engine.Deps.ExtraApps: the registered apps, by name.
func (c *Catalog) ExtraApps(cluster.State) []config.App { return c.Apps() }

// Apps returns the registered apps sorted by name.
func (c *Catalog) Apps() []config.App {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]config.App, 0, len(c.apps))
	for _, a := range c.apps {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// App returns a registered app.
func (c *Catalog) App(name string) (config.App, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	a, ok := c.apps[name]
	return a, ok
}

// PutApp stores a registered app.
func (c *Catalog) PutApp(ctx context.Context, a config.App) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.reg.PutApp(ctx, a); err != nil {
		return err
	}
	c.apps[a.Name] = a
	return nil
}

// DeleteApp forgets a registered app.
func (c *Catalog) DeleteApp(ctx context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.reg.DeleteApp(ctx, name); err != nil {
		return err
	}
	delete(c.apps, name)
	return nil
}

// Override returns a descriptor app's override.
func (c *Catalog) Override(app string) (store.Override, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	o, ok := c.overrides[app]
	return o, ok
}

// PutOverride stores o.
func (c *Catalog) PutOverride(ctx context.Context, o store.Override) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.reg.PutOverride(ctx, o); err != nil {
		return err
	}
	c.overrides[o.App] = o
	return nil
}

// DeleteOverride drops an app's override.
func (c *Catalog) DeleteOverride(ctx context.Context, app string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.reg.DeleteOverride(ctx, app); err != nil {
		return err
	}
	delete(c.overrides, app)
	return nil
}

// Effective returns a copy of base with the overrides applied; base is not
// changed (the engine may be reading it).
func (c *Catalog) Effective(base *config.Config) *config.Config {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return withOverrides(base, c.overrides)
}

func withOverrides(base *config.Config, ovs map[string]store.Override) *config.Config {
	cfg := *base
	cfg.Apps = append([]config.App(nil), base.Apps...)
	for i := range cfg.Apps {
		if o, ok := ovs[cfg.Apps[i].Name]; ok {
			applyOverride(&cfg.Apps[i], o)
		}
	}
	return &cfg
}

func applyOverride(a *config.App, o store.Override) {
	a.Replicas, a.Cooldown = o.Replicas, o.Cooldown
	a.Policies = append([]config.Policy(nil), o.Policies...)
	a.SetDefaults()
}

// MemoryRegistry is a Registry that forgets everything on exit (hoist run
// without --data).
type MemoryRegistry struct {
	mu        sync.Mutex
	apps      map[string]config.App
	overrides map[string]store.Override
}

// NewMemoryRegistry returns an empty registry.
func NewMemoryRegistry() *MemoryRegistry {
	return &MemoryRegistry{apps: map[string]config.App{}, overrides: map[string]store.Override{}}
}

// Apps implements Registry.
func (m *MemoryRegistry) Apps(context.Context) ([]config.App, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]config.App, 0, len(m.apps))
	for _, a := range m.apps {
		out = append(out, a)
	}
	return out, nil
}

// PutApp implements Registry.
func (m *MemoryRegistry) PutApp(_ context.Context, a config.App) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.apps[a.Name] = a
	return nil
}

// DeleteApp implements Registry.
func (m *MemoryRegistry) DeleteApp(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.apps[name]; !ok {
		return fmt.Errorf("app %s: %w", name, store.ErrNotFound)
	}
	delete(m.apps, name)
	return nil
}

// Overrides implements Registry.
func (m *MemoryRegistry) Overrides(context.Context) (map[string]store.Override, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]store.Override, len(m.overrides))
	for k, v := range m.overrides {
		out[k] = v
	}
	return out, nil
}

// PutOverride implements Registry.
func (m *MemoryRegistry) PutOverride(_ context.Context, o store.Override) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.overrides[o.App] = o
	return nil
}

// DeleteOverride implements Registry.
func (m *MemoryRegistry) DeleteOverride(_ context.Context, app string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.overrides[app]; !ok {
		return fmt.Errorf("override %s: %w", app, store.ErrNotFound)
	}
	delete(m.overrides, app)
	return nil
}
