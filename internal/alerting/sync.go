package alerting

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
)

// Reloader makes Prometheus read its rule files again (prom.Client).
type Reloader interface {
	Reload(ctx context.Context) error
}

// ExprChecker asks Prometheus's parser about an expression (prom.Client).
type ExprChecker interface {
	CheckExpr(ctx context.Context, expr string) error
}

// Syncer keeps a rules directory holding exactly the rule files of the apps
// and pools hoist manages now, and reloads Prometheus when they change.
// Files not named hoist-*.yml are not hoist's and are left alone.
type Syncer struct {
	dir    string
	reload Reloader    // nil: write files, reload nothing
	check  ExprChecker // nil: files are written unchecked
	record func(events.Event)
	log    *slog.Logger

	mu        sync.Mutex
	owed      bool              // a reload is owed: a change not yet loaded
	lastError string            // the last reload error reported (one event per error)
	refused   map[string]string // file -> why it was last not written (one event per reason)
}

// NewSyncer manages dir; reload and record may be nil. When reload can
// also check expressions (prom.Client: ExprChecker), a rule file is written
// only once Prometheus's parser accepts every expression in it: a file
// Prometheus (and promtool check rules) would refuse would fail every reload
// and stop Prometheus from starting.
func NewSyncer(dir string, reload Reloader, record func(events.Event), log *slog.Logger) *Syncer {
	if record == nil {
		record = func(events.Event) {}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The first Sync reloads even if the files on disk are already right: a
	// previous run may have written them without Prometheus loading them.
	check, _ := reload.(ExprChecker)
	return &Syncer{dir: dir, reload: reload, check: check, record: record, log: log, owed: true, refused: map[string]string{}}
}

// SyncResult says what one Sync did.
type SyncResult struct {
	Written, Removed []string
	Reloaded         bool
}

// Sync writes the rule files of apps and pools that differ from what is on
// disk, removes those of apps and pools that went, and reloads Prometheus if
// anything changed or an earlier reload failed. A failed reload is an event
// once, and retried on the next Sync.
func (s *Syncer) Sync(ctx context.Context, apps []config.App, pools []config.Pool) (SyncResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res SyncResult
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return res, fmt.Errorf("rules dir: %w", err)
	}
	want := Files(apps, pools)
	have, err := Managed(s.dir)
	if err != nil {
		return res, err
	}
	subject := map[string][2]string{} // file -> app, pool
	for _, a := range apps {
		subject[AppFile(a.Name)] = [2]string{a.Name, ""}
	}
	for _, p := range pools {
		subject[PoolFile(p.Name)] = [2]string{"", p.Name}
	}
	var errs []error
	for _, name := range Names(want) {
		path := filepath.Join(s.dir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, want[name]) {
			delete(s.refused, name)
			continue
		}
		who := subject[name]
		if err := s.checkFile(ctx, want[name]); err != nil {
			// Not written: what Prometheus has loaded stays; tried again
			// on the next Sync (Prometheus may be back, the policy fixed).
			errs = append(errs, fmt.Errorf("rule file %s not written: %w", path, err))
			if s.refused[name] != err.Error() {
				s.refused[name] = err.Error()
				s.record(events.Event{Kind: KindRules, App: who[0], Pool: who[1],
					Reason: fmt.Sprintf("rule file %s not written: %v", path, err)})
			}
			continue
		}
		delete(s.refused, name)
		if err := writeAtomic(path, want[name]); err != nil {
			errs = append(errs, err)
			continue
		}
		res.Written = append(res.Written, name)
		s.owed = true
		s.record(events.Event{Kind: KindRules, App: who[0], Pool: who[1],
			Reason: fmt.Sprintf("rule file %s written (%s)", path, alertList(want[name]))})
	}
	for _, name := range have {
		if _, keep := want[name]; keep {
			continue
		}
		path := filepath.Join(s.dir, name)
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", path, err))
			continue
		}
		res.Removed = append(res.Removed, name)
		s.owed = true
		app, pool := ownerOf(name)
		s.record(events.Event{Kind: KindRules, App: app, Pool: pool,
			Reason: fmt.Sprintf("rule file %s removed: no longer managed", path)})
	}
	if s.owed && s.reload != nil {
		if err := s.reload.Reload(ctx); err != nil {
			if err.Error() != s.lastError {
				s.lastError = err.Error()
				s.record(events.Event{Kind: KindRules, Reason: "Prometheus did not reload the rule files, retrying: " + err.Error()})
			}
			errs = append(errs, err)
		} else {
			if s.lastError != "" {
				s.record(events.Event{Kind: KindRules, Reason: "Prometheus reloaded the rule files"})
			}
			s.owed, s.lastError, res.Reloaded = false, "", true
		}
	} else if s.reload == nil {
		s.owed = false
	}
	return res, errors.Join(errs...)
}

// checkFile asks Prometheus about every expression of a rendered file, read
// back from the bytes to be written: what is checked is what is written.
func (s *Syncer) checkFile(ctx context.Context, data []byte) error {
	if s.check == nil {
		return nil
	}
	var rf RuleFile
	if err := yaml.Unmarshal(data, &rf); err != nil {
		return fmt.Errorf("rendered rules do not read back: %w", err)
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if err := s.check.CheckExpr(ctx, r.Expr); err != nil {
				return fmt.Errorf("%s: %s: %w", r.Alert, r.Expr, err)
			}
		}
	}
	return nil
}

// Managed lists the rule files of dir that hoist manages, sorted.
func Managed(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("rules dir: %w", err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, FilePrefix) && strings.HasSuffix(n, ".yml") {
			out = append(out, n)
		}
	}
	return out, nil
}

// ownerOf reads the app or pool back from a file name.
func ownerOf(name string) (app, pool string) {
	base := strings.TrimSuffix(strings.TrimPrefix(name, FilePrefix), ".yml")
	if a, ok := strings.CutPrefix(base, "app-"); ok {
		return a, ""
	}
	if p, ok := strings.CutPrefix(base, "pool-"); ok {
		return "", p
	}
	return "", ""
}

// alertList names the alerts of a rendered file for an event.
func alertList(data []byte) string {
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		if n, ok := strings.CutPrefix(strings.TrimSpace(line), "- alert: "); ok {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// writeAtomic writes through a temporary file and a rename, so Prometheus
// never reads half a file. The temporary name does not match *.yml.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
