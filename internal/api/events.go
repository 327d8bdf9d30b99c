package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/events"
)

// knownKinds lets a kind prefix ("machine") be combined with other kinds.
var knownKinds = []events.Kind{
	events.AppScale, events.AppHold, events.AppDeployed, events.AppRemoved, events.AppWarning, events.AppAnomaly, events.AppThrottle,
	events.PoolScaleUp, events.PoolScaleDown, events.PoolHold,
	events.MachineOrdered, events.MachineReady, events.MachineFailed, events.MachineSelected, events.MachineDraining,
	events.MachineDrained, events.MachineRemoved, events.MachineDestroyed, events.MachineDrainCancelled, events.MachineAdopted,
	events.TaskUnschedulable, events.EngineError, events.EngineInfo,
	events.LeaderAcquired, events.LeaderLost, events.LeaderSteppedDown,
}

// Page size bounds.
const (
	defaultPage = 100
	maxPage     = 1000
)

// eventQuery is a parsed event request.
type eventQuery struct {
	f             events.Filter
	after, before uint64
	forward       bool // after= was given (even 0: from the start)
	limit         int
}

// parseEventQuery reads app, pool, machine, kind (repeatable, comma
// separated; "machine" or "machine." is every machine kind), since and until
// (RFC 3339, or a duration back from now such as 1h), after, before, limit.
func (s *Server) parseEventQuery(r *http.Request) (eventQuery, *Error) {
	q := r.URL.Query()
	var eq eventQuery
	eq.f.App, eq.f.Pool, eq.f.Machine = q.Get("app"), q.Get("pool"), q.Get("machine")
	var kinds []string
	for _, v := range q["kind"] {
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				kinds = append(kinds, k)
			}
		}
	}
	for _, k := range kinds {
		if len(k) > 64 {
			return eq, badRequest("kind", "kind too long")
		}
		prefix := !strings.Contains(k, ".") || strings.HasSuffix(k, ".")
		if prefix && len(kinds) == 1 {
			eq.f.KindPrefix = strings.TrimSuffix(k, ".") + "."
			continue
		}
		if !prefix {
			eq.f.Kinds = append(eq.f.Kinds, events.Kind(k))
			continue
		}
		p := strings.TrimSuffix(k, ".") + "."
		n := 0
		for _, known := range knownKinds {
			if strings.HasPrefix(string(known), p) {
				eq.f.Kinds = append(eq.f.Kinds, known)
				n++
			}
		}
		if n == 0 {
			return eq, badRequest("kind", "%q matches no kind", k)
		}
	}
	var e *Error
	if eq.f.Since, e = s.timeParam(q.Get("since"), "since"); e != nil {
		return eq, e
	}
	if eq.f.Until, e = s.timeParam(q.Get("until"), "until"); e != nil {
		return eq, e
	}
	if eq.after, e = seqParam(q.Get("after"), "after"); e != nil {
		return eq, e
	}
	if eq.before, e = seqParam(q.Get("before"), "before"); e != nil {
		return eq, e
	}
	eq.forward = q.Has("after")
	if eq.forward && q.Has("before") {
		return eq, badRequest("before", "give after or before, not both")
	}
	eq.limit = defaultPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			return eq, badRequest("limit", "must be between 1 and %d, not %q", maxPage, v)
		}
		eq.limit = n
	}
	return eq, nil
}

func (s *Server) timeParam(v, name string) (time.Time, *Error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return s.opt.Now().Add(-d), nil
	}
	return time.Time{}, badRequest(name, "must be an RFC 3339 time or a duration back from now (1h), not %q", v)
}

func seqParam(v, name string) (uint64, *Error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, badRequest(name, "must be an event sequence number, not %q", v)
	}
	return n, nil
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	q, e := s.parseEventQuery(r)
	if e != nil {
		return e
	}
	cursor := q.before
	if q.forward {
		cursor = q.after
	}
	evs, err := s.opt.Events.Page(q.f, cursor, q.forward, q.limit)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []events.Event{}
	}
	out := EventPage{Events: evs, LastSeq: s.opt.Events.LastSeq()}
	if len(evs) > 0 {
		next, prev := evs[len(evs)-1].Seq, evs[0].Seq
		out.Next, out.Prev = &next, &prev
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// stream sends events as Server-Sent Events: first the matching ones after
// the cursor (after=, or the Last-Event-ID header of a reconnecting client),
// then live ones. A subscriber that fell behind and lost live events gets
// them back from the log, so a stream never silently skips one.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) error {
	q, e := s.parseEventQuery(r)
	if e != nil {
		return e
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" && !q.forward {
		if q.after, e = seqParam(id, "Last-Event-ID"); e != nil {
			return e
		}
		q.forward = true
	}
	release, e := s.takeStream(r)
	if e != nil {
		return e
	}
	defer release()
	sub, unsub := s.opt.Events.Subscribe(1024)
	defer unsub()
	cursor := s.opt.Events.LastSeq() // every later event comes through sub (or is re-read)

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(ev events.Event) error {
		frame, err := s.frames.frame(ev)
		if err != nil {
			return err
		}
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		_, err = w.Write(frame)
		return err
	}
	// fill sends the matching stored events in (from, to].
	fill := func(from, to uint64) error {
		for from < to {
			page, err := s.opt.Events.Page(q.f, from, true, 500)
			if err != nil {
				return err
			}
			for _, ev := range page {
				if ev.Seq > to {
					return nil
				}
				if err := send(ev); err != nil {
					return err
				}
				from = ev.Seq
			}
			if len(page) < 500 {
				return nil
			}
		}
		return nil
	}
	if q.forward && q.after < cursor {
		if err := fill(q.after, cursor); err != nil {
			return nil // the client went away
		}
	}
	if _, err := fmt.Fprintf(w, ": connected, last_seq %d\n\n", cursor); err != nil {
		return nil
	}
	if err := rc.Flush(); err != nil {
		return nil
	}
	// deliver sends a live event, first re-reading any the subscription lost.
	deliver := func(ev events.Event) error {
		if ev.Seq <= cursor {
			return nil
		}
		if ev.Seq > cursor+1 {
			if err := fill(cursor, ev.Seq-1); err != nil {
				return err
			}
		}
		cursor = ev.Seq
		if q.f.Match(ev) {
			return send(ev)
		}
		return nil
	}
	beat := time.NewTicker(s.opt.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-s.done:
			return nil
		case <-beat.C:
			// A lost event with none after it is caught here.
			if last := s.opt.Events.LastSeq(); last > cursor {
				if err := fill(cursor, last); err != nil {
					return nil
				}
				cursor = last
			}
			_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
		case ev, ok := <-sub:
			// Send what else is queued before flushing: one flush per burst.
			for queued := true; queued; {
				if !ok {
					_ = rc.Flush()
					return nil // the log closed
				}
				if err := deliver(ev); err != nil {
					return nil
				}
				select {
				case ev, ok = <-sub:
				default:
					queued = false
				}
			}
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}

// takeStream counts a new stream against the server's and its client's
// limits; release gives it back.
func (s *Server) takeStream(r *http.Request) (release func(), e *Error) {
	who := auth.PrincipalFrom(r.Context())
	if who == "" {
		who = "client:" + auth.ClientKey(r)
	}
	s.perMu.Lock()
	defer s.perMu.Unlock()
	if s.per[who] >= s.opt.MaxStreamsPerClient {
		return nil, errf(http.StatusTooManyRequests, "too_many_streams", "", "at most %d event streams at once per token (or client); close one", s.opt.MaxStreamsPerClient)
	}
	if s.streams.Load() >= int64(s.opt.MaxStreams) {
		return nil, errf(http.StatusServiceUnavailable, "too_many_streams", "", "at most %d event streams at once", s.opt.MaxStreams)
	}
	s.per[who]++
	s.streams.Add(1)
	return func() {
		s.perMu.Lock()
		defer s.perMu.Unlock()
		if s.per[who]--; s.per[who] <= 0 {
			delete(s.per, who)
		}
		s.streams.Add(-1)
	}, nil
}

// frameCache keeps the SSE frames of recent events: with a hundred streams,
// encoding each event once instead of once per stream is most of the cost.
type frameCache struct {
	mu   sync.Mutex
	m    map[uint64][]byte
	ring []uint64
	next int
}

const frameCacheSize = 4096

func (c *frameCache) frame(ev events.Event) ([]byte, error) {
	c.mu.Lock()
	if f, ok := c.m[ev.Seq]; ok {
		c.mu.Unlock()
		return f, nil
	}
	c.mu.Unlock()
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	f := fmt.Appendf(nil, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Kind, data)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m, c.ring = map[uint64][]byte{}, make([]uint64, frameCacheSize)
	}
	if _, ok := c.m[ev.Seq]; !ok {
		delete(c.m, c.ring[c.next])
		c.ring[c.next] = ev.Seq
		c.next = (c.next + 1) % frameCacheSize
		c.m[ev.Seq] = f
	}
	return f, nil
}

// MemoryLog adapts an in-memory event log (hoist run without --data) to EventLog.
type MemoryLog struct{ *events.Memory }

var _ EventLog = MemoryLog{}

// Page implements EventLog.
func (m MemoryLog) Page(f events.Filter, cursor uint64, forward bool, limit int) ([]events.Event, error) {
	f.Limit, f.AfterSeq = 0, 0
	if forward {
		f.AfterSeq = cursor
	}
	all := m.List(f)
	if forward {
		if len(all) > limit {
			all = all[:limit]
		}
		return all, nil
	}
	if cursor > 0 {
		i := len(all)
		for i > 0 && all[i-1].Seq >= cursor {
			i--
		}
		all = all[:i]
	}
	if len(all) > limit {
		all = all[len(all)-limit:]
	}
	return all, nil
}
