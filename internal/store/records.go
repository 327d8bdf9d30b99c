package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/throttle"
)

// Decoding of stored records. A record that does not decode, or does not
// belong under its key, is an error naming the record: bytes on disk can be
// damaged, and the engine must never act on a half-read record. Fuzzed in
// records_test.go.

// maxRecord bounds a stored record: hoist writes none this large, so a
// larger one is damage, refused before any decoding.
const maxRecord = 4 << 20

func tooLarge(what string, v []byte) error {
	if len(v) > maxRecord {
		return fmt.Errorf("%s: %d bytes, more than any record hoist writes (%d)", what, len(v), maxRecord)
	}
	return nil
}

// decodeMachine reads a machine record; k is its name.
func decodeMachine(k, v []byte) (cluster.MachineRecord, error) {
	var r cluster.MachineRecord
	what := "machine " + strconv.Quote(string(k))
	if err := tooLarge(what, v); err != nil {
		return r, err
	}
	if err := json.Unmarshal(v, &r); err != nil {
		return r, fmt.Errorf("%s: %w", what, err)
	}
	if r.Name != string(k) || r.Pool == "" {
		return r, fmt.Errorf("%s: inconsistent record (name %q, pool %q)", what, r.Name, r.Pool)
	}
	return r, nil
}

// decodeEvent reads an event; k is its sequence number.
func decodeEvent(k, v []byte) (events.Event, error) {
	var e events.Event
	if len(k) != 8 {
		return e, fmt.Errorf("event key %x: not a sequence number", k)
	}
	seq := binary.BigEndian.Uint64(k)
	what := fmt.Sprintf("event %d", seq)
	if err := tooLarge(what, v); err != nil {
		return e, err
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return e, fmt.Errorf("%s: %w", what, err)
	}
	if e.Seq != seq {
		return e, fmt.Errorf("%s: inconsistent record (it says %d)", what, e.Seq)
	}
	return e, nil
}

// decodeApp reads an app registered through the API; k is its name.
func decodeApp(k, v []byte) (config.App, error) {
	var a config.App
	what := "app " + strconv.Quote(string(k))
	if err := tooLarge(what, v); err != nil {
		return a, err
	}
	if err := unmarshalYAML(v, &a); err != nil {
		return a, fmt.Errorf("%s: %w", what, err)
	}
	if a.Name != string(k) {
		return a, fmt.Errorf("%s: inconsistent record (name %q)", what, a.Name)
	}
	return a, nil
}

// decodeOverride reads a policy override; k is its app.
func decodeOverride(k, v []byte) (Override, error) {
	var o Override
	what := "override " + strconv.Quote(string(k))
	if err := tooLarge(what, v); err != nil {
		return o, err
	}
	if err := unmarshalYAML(v, &o); err != nil {
		return o, fmt.Errorf("%s: %w", what, err)
	}
	if o.App != string(k) {
		return o, fmt.Errorf("%s: inconsistent record (app %q)", what, o.App)
	}
	return o, nil
}

// decodeRequest reads a stored pool request; k is its pool.
func decodeRequest(k, v []byte) (cluster.PoolRequest, error) {
	var r cluster.PoolRequest
	what := "pool request " + strconv.Quote(string(k))
	if err := tooLarge(what, v); err != nil {
		return r, err
	}
	if err := json.Unmarshal(v, &r); err != nil {
		return r, fmt.Errorf("%s: %w", what, err)
	}
	if r.Pool != string(k) || r.Target < 0 || r.Seq == 0 {
		return r, fmt.Errorf("%s: inconsistent record (pool %q, target %d, seq %d)", what, r.Pool, r.Target, r.Seq)
	}
	return r, nil
}

// decodeThrottle reads an app's rate limit; k is its app.
func decodeThrottle(k, v []byte) (throttle.Entry, error) {
	var e throttle.Entry
	what := "rate limit " + strconv.Quote(string(k))
	if err := tooLarge(what, v); err != nil {
		return e, err
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return e, fmt.Errorf("%s: %w", what, err)
	}
	if e.App != string(k) || e.Limit.Rate == 0 || !e.Since.Before(e.Until) {
		return e, fmt.Errorf("%s: inconsistent record (app %q, rate %d, %s to %s)", what, e.App, e.Limit.Rate, e.Since, e.Until)
	}
	return e, nil
}

// DecodeThrottle is decodeThrottle for the swarm's copy of the state (--ha).
func DecodeThrottle(k, v []byte) (throttle.Entry, error) { return decodeThrottle(k, v) }

// Bounds of the YAML records hoist writes (an app: a few levels of maps and
// lists, indented by 4): well above them, and well below what makes the YAML
// parser costly (it spends hundreds of bytes per level of nesting).
const (
	maxFlowDepth = 64
	maxIndent    = 256
)

// unmarshalYAML decodes v into out after a cheap scan of its nesting: every
// flow bracket ([ {, quoted or not: no record hoist writes comes near the
// bound) and indentation, including the "- " of nested block sequences on
// one line.
func unmarshalYAML(v []byte, out any) error {
	depth, indent, lineStart := 0, 0, true
	for i, c := range v {
		if c == '\n' {
			lineStart, indent = true, 0
			continue
		}
		if lineStart {
			if c == ' ' || c == '-' && i+1 < len(v) && v[i+1] == ' ' {
				if indent++; indent > maxIndent {
					return fmt.Errorf("yaml: indented more than %d columns", maxIndent)
				}
				continue
			}
			lineStart = false
		}
		switch c {
		case '[', '{':
			if depth++; depth > maxFlowDepth {
				return fmt.Errorf("yaml: brackets nested more than %d deep", maxFlowDepth)
			}
		case ']', '}':
			depth = max(depth-1, 0)
		}
	}
	return yaml.Unmarshal(v, out)
}

// DecodeApp, DecodeOverride and DecodeRequest are the decoders above for
// the same records kept elsewhere (hoist run --ha keeps them in Swarm
// labels: internal/swarm's State); k is the record's name.
func DecodeApp(k, v []byte) (config.App, error) { return decodeApp(k, v) }

// DecodeOverride: see DecodeApp.
func DecodeOverride(k, v []byte) (Override, error) { return decodeOverride(k, v) }

// DecodeRequest: see DecodeApp.
func DecodeRequest(k, v []byte) (cluster.PoolRequest, error) { return decodeRequest(k, v) }
