package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.yaml.in/yaml/v3"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/throttle"
)

// FileName is the database file under the data directory.
const FileName = "hoist.db"

// ErrLocked is returned by OpenBolt when another process holds the database:
// two hoists on one data directory would fight over the same machines.
var ErrLocked = errors.New("data directory is in use by another hoist")

// ErrNotFound is returned for an app or override that is not stored.
var ErrNotFound = errors.New("not found")

var (
	bucketMeta      = []byte("meta")
	bucketMachines  = []byte("machines")
	bucketEvents    = []byte("events")
	bucketApps      = []byte("apps")
	bucketOverrides = []byte("overrides")
	bucketRequests  = []byte("requests")
	bucketThrottles = []byte("throttles")
)

// Retention bounds the event log. Zero fields mean "no bound".
type Retention struct {
	// MaxEvents keeps at most this many events (the newest).
	MaxEvents int
	// MaxAge drops events older than this, measured from the newest event's
	// time: the log's own clock, so a simulated run prunes by simulated time
	// and an idle hoist never empties its log.
	MaxAge time.Duration
}

// BoltOptions configure OpenBolt.
type BoltOptions struct {
	Retention Retention
	// FlushEvery is how often recorded events are written (default 100ms).
	// Events are written in groups so the control loop never waits for a
	// disk sync per event; machine records are written synchronously.
	FlushEvery time.Duration
	Logger     *slog.Logger
}

// Override replaces the scaling part of a descriptor app (set through the
// API): it survives restarts and reloads until deleted.
type Override struct {
	App      string          `yaml:"app"`
	Replicas config.Replicas `yaml:"replicas"`
	Cooldown config.Cooldown `yaml:"cooldown"`
	Policies []config.Policy `yaml:"policies"`
}

// Bolt is hoist's durable state in one bbolt file: machine records
// (engine.Store), the event log (engine.Recorder, with live subscribers), the
// apps registered through the API and policy overrides. Safe for concurrent use.
type Bolt struct {
	db   *bolt.DB
	ret  Retention
	log  *slog.Logger
	path string

	mu      sync.Mutex
	seq     uint64
	count   int // events stored
	pending []events.Event
	subs    map[chan events.Event]struct{}
	closed  bool

	flushMu sync.Mutex // one flush at a time
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// OpenBolt opens (or creates) the database in dir.
func OpenBolt(dir string, opt BoltOptions) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	err := verify(path, time.Second)
	var db *bolt.DB
	if err == nil {
		err = guard(func() error {
			var err error
			db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
			return err
		})
	}
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
		}
		if errors.Is(err, ErrCorrupt) {
			return nil, fmt.Errorf("open %s: %w; %s", path, err, corruptHint)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if opt.FlushEvery <= 0 {
		opt.FlushEvery = 100 * time.Millisecond
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Bolt{db: db, ret: opt.Retention, log: opt.Logger, path: path,
		subs: map[chan events.Event]struct{}{}, kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	err = s.update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketMachines, bucketEvents, bucketApps, bucketOverrides, bucketRequests, bucketThrottles} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Put([]byte("version"), []byte("1")); err != nil {
			return err
		}
		eb := tx.Bucket(bucketEvents)
		s.count = eb.Stats().KeyN
		if k, _ := eb.Cursor().Last(); k != nil {
			s.seq = binary.BigEndian.Uint64(k)
		}
		// The sequence never goes back, even when retention emptied the log:
		// clients resume streams by it.
		if v := tx.Bucket(bucketMeta).Get([]byte("seq")); len(v) == 8 {
			s.seq = max(s.seq, binary.BigEndian.Uint64(v))
		}
		return nil
	})
	if err != nil {
		db.Close()
		if errors.Is(err, ErrCorrupt) {
			return nil, fmt.Errorf("init %s: %w; %s", path, err, corruptHint)
		}
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	go s.writer(opt.FlushEvery)
	return s, nil
}

// view and update are bbolt's transactions under guard: damage found after
// the start is an error wrapping ErrCorrupt, not a crash of the control loop.
func (s *Bolt) view(f func(*bolt.Tx) error) error {
	return guard(func() error { return s.db.View(f) })
}

func (s *Bolt) update(f func(*bolt.Tx) error) error {
	return guard(func() error { return s.db.Update(f) })
}

// Path is the database file.
func (s *Bolt) Path() string { return s.path }

// Close writes the pending events and closes the file.
func (s *Bolt) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for ch := range s.subs {
		delete(s.subs, ch)
		close(ch)
	}
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	ferr := s.Flush()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return ferr
}

// Machines implements engine.Store.
func (s *Bolt) Machines(context.Context) ([]cluster.MachineRecord, error) {
	var out []cluster.MachineRecord
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMachines).ForEach(func(k, v []byte) error {
			r, err := decodeMachine(k, v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read machines: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PutMachine implements engine.Store. It returns once the record is on disk:
// the engine records a machine before ordering it.
func (s *Bolt) PutMachine(_ context.Context, r cluster.MachineRecord) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode machine %s: %w", r.Name, err)
	}
	if err := s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMachines).Put([]byte(r.Name), data)
	}); err != nil {
		return fmt.Errorf("write machine %s: %w", r.Name, err)
	}
	return nil
}

// PoolRequests implements engine.Store: the manual pool requests not yet
// carried out, by pool.
func (s *Bolt) PoolRequests(context.Context) ([]cluster.PoolRequest, error) {
	var out []cluster.PoolRequest
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRequests).ForEach(func(k, v []byte) error {
			r, err := decodeRequest(k, v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read pool requests: %w", err)
	}
	return out, nil
}

// PutPoolRequest implements engine.Store: r replaces its pool's request, and
// is on disk when it returns.
func (s *Bolt) PutPoolRequest(_ context.Context, r cluster.PoolRequest) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode pool request %s: %w", r.Pool, err)
	}
	if err := s.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRequests).Put([]byte(r.Pool), data) }); err != nil {
		return fmt.Errorf("write pool request %s: %w", r.Pool, err)
	}
	return nil
}

// DeletePoolRequest implements engine.Store: it forgets pool's request if it
// is still number seq (a newer one stays).
func (s *Bolt) DeletePoolRequest(_ context.Context, pool string, seq uint64) error {
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRequests)
		v := b.Get([]byte(pool))
		if v == nil {
			return nil
		}
		var r cluster.PoolRequest
		if json.Unmarshal(v, &r) == nil && r.Seq != seq {
			return nil
		}
		return b.Delete([]byte(pool))
	})
	if err != nil {
		return fmt.Errorf("delete pool request %s: %w", pool, err)
	}
	return nil
}

// Record implements engine.Recorder: it numbers the event, tells live
// subscribers and queues it for the next group write. A slow subscriber
// misses events rather than stalling the control loop (it can re-read them
// by sequence number).
func (s *Bolt) Record(e events.Event) events.Event {
	s.mu.Lock()
	s.seq++
	e.Seq = s.seq
	if !s.closed {
		s.pending = append(s.pending, e)
	}
	for ch := range s.subs {
		select {
		case ch <- e:
		default:
		}
	}
	n := len(s.pending)
	s.mu.Unlock()
	if n >= 256 {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return e
}

// LastSeq is the newest event's sequence number.
func (s *Bolt) LastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// Subscribe returns a channel of new events and a function to stop.
func (s *Bolt) Subscribe(buffer int) (<-chan events.Event, func()) {
	ch := make(chan events.Event, buffer)
	s.mu.Lock()
	if s.closed {
		close(ch)
	} else {
		s.subs[ch] = struct{}{}
	}
	s.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.mu.Lock()
			if _, ok := s.subs[ch]; ok {
				delete(s.subs, ch)
				close(ch)
			}
			s.mu.Unlock()
		})
	}
}

func (s *Bolt) writer(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.kick:
		}
		if err := s.Flush(); err != nil {
			s.log.Error("writing events", "err", err)
		}
	}
}

// maxPending bounds the events kept in memory while the disk refuses writes.
const maxPending = 100_000

// Flush writes the queued events and applies retention.
func (s *Bolt) Flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	seq := s.seq
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	removed := 0
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		for _, e := range batch {
			data, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("encode event %d: %w", e.Seq, err)
			}
			if err := b.Put(seqKey(e.Seq), data); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Put([]byte("seq"), seqKey(seq)); err != nil {
			return err
		}
		var err error
		removed, err = s.prune(b, s.count+len(batch), batch[len(batch)-1].Time)
		return err
	})
	if err != nil {
		// Keep them for the next try, oldest dropped past the bound.
		s.mu.Lock()
		s.pending = append(batch, s.pending...)
		if over := len(s.pending) - maxPending; over > 0 {
			s.pending = s.pending[over:]
		}
		s.mu.Unlock()
		return fmt.Errorf("write %d events: %w", len(batch), err)
	}
	s.count += len(batch) - removed
	return nil
}

// prune deletes the oldest events beyond the retention bounds; n is how many
// the bucket holds, newest the newest event's time.
func (s *Bolt) prune(b *bolt.Bucket, n int, newest time.Time) (int, error) {
	removed := 0
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.First() {
		drop := s.ret.MaxEvents > 0 && n-removed > s.ret.MaxEvents
		if !drop && s.ret.MaxAge > 0 {
			var e struct {
				Time time.Time `json:"time"`
			}
			drop = json.Unmarshal(v, &e) == nil && newest.Sub(e.Time) > s.ret.MaxAge
		}
		if !drop {
			break
		}
		if err := c.Delete(); err != nil {
			return removed, err
		}
		removed++
	}
	return removed, nil
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

// maxScan bounds how many stored events one page may look at, so a filter
// that matches nothing cannot make a request walk an unbounded log.
const maxScan = 1_000_000

// Page returns up to limit events matching f (f.AfterSeq and f.Limit are
// ignored), oldest first: forward, the first ones after the sequence number
// cursor; backward, the newest ones before it (cursor 0: the end).
func (s *Bolt) Page(f events.Filter, cursor uint64, forward bool, limit int) ([]events.Event, error) {
	if err := s.Flush(); err != nil {
		return nil, err
	}
	f.AfterSeq, f.Limit = 0, 0
	if limit <= 0 {
		limit = 100
	}
	var out []events.Event
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		var k, v []byte
		var next func() ([]byte, []byte)
		if forward {
			k, v = c.Seek(seqKey(cursor + 1))
			next = c.Next
		} else {
			if cursor > 0 {
				k, v = c.Seek(seqKey(cursor))
				if k == nil {
					k, v = c.Last()
				}
				if k != nil && binary.BigEndian.Uint64(k) >= cursor {
					k, v = c.Prev()
				}
			} else {
				k, v = c.Last()
			}
			next = c.Prev
		}
		for scanned := 0; k != nil && len(out) < limit && scanned < maxScan; k, v = next() {
			scanned++
			e, err := decodeEvent(k, v)
			if err != nil {
				return err
			}
			if f.Match(e) {
				out = append(out, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	if !forward {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

// EventCount is how many events are stored (after the last flush).
func (s *Bolt) EventCount() int {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	return s.count
}

// Apps returns the apps registered through the API, by name.
func (s *Bolt) Apps(context.Context) ([]config.App, error) {
	var out []config.App
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketApps).ForEach(func(k, v []byte) error {
			a, err := decodeApp(k, v)
			if err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read apps: %w", err)
	}
	return out, nil
}

// PutApp stores a registered app (in the descriptor's YAML form).
func (s *Bolt) PutApp(_ context.Context, a config.App) error {
	return s.put(bucketApps, a.Name, a)
}

// DeleteApp forgets a registered app; ErrNotFound if there is none.
func (s *Bolt) DeleteApp(_ context.Context, name string) error {
	return s.del(bucketApps, name)
}

// Overrides returns the policy overrides, by app.
func (s *Bolt) Overrides(context.Context) (map[string]Override, error) {
	out := map[string]Override{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOverrides).ForEach(func(k, v []byte) error {
			o, err := decodeOverride(k, v)
			if err != nil {
				return err
			}
			out[o.App] = o
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read overrides: %w", err)
	}
	return out, nil
}

// PutOverride stores o.
func (s *Bolt) PutOverride(_ context.Context, o Override) error {
	return s.put(bucketOverrides, o.App, o)
}

// DeleteOverride removes an app's override; ErrNotFound if there is none.
func (s *Bolt) DeleteOverride(_ context.Context, app string) error {
	return s.del(bucketOverrides, app)
}

var _ throttle.Store = (*Bolt)(nil)

// Throttles returns the rate limits hoist wants (docs/netguard.md), by app:
// the guard's book reads them at start, so a restart keeps them.
func (s *Bolt) Throttles(context.Context) ([]throttle.Entry, error) {
	var out []throttle.Entry
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketThrottles).ForEach(func(k, v []byte) error {
			e, err := decodeThrottle(k, v)
			if err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read rate limits: %w", err)
	}
	return out, nil
}

// PutThrottle stores an app's rate limit, replacing the one before.
func (s *Bolt) PutThrottle(_ context.Context, e throttle.Entry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode throttles/%s: %w", e.App, err)
	}
	if err := s.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketThrottles).Put([]byte(e.App), data) }); err != nil {
		return fmt.Errorf("write throttles/%s: %w", e.App, err)
	}
	return nil
}

// DeleteThrottle forgets an app's rate limit; nil when there was none (a
// lift and an expiry may both delete it).
func (s *Bolt) DeleteThrottle(_ context.Context, app string) error {
	if err := s.del(bucketThrottles, app); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

func (s *Bolt) put(bucket []byte, key string, v any) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", bucket, key, err)
	}
	if err := s.update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), data) }); err != nil {
		return fmt.Errorf("write %s/%s: %w", bucket, key, err)
	}
	return nil
}

func (s *Bolt) del(bucket []byte, key string) error {
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b.Get([]byte(key)) == nil {
			return ErrNotFound
		}
		return b.Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	return nil
}
