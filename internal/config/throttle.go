package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// OnAnomalyThrottle limits the traffic of the tasks that made an anomaly of
// the app's traffic (docs/netguard.md), and holds scale-ups as
// hold_scale_up does while any task is limited.
const OnAnomalyThrottle = "throttle"

// Throttle is the limit `on_anomaly: throttle` and the API put on tasks.
type Throttle struct {
	// Rate is the limit in each direction.
	Rate BitRate `yaml:"rate" json:"rate"`
	// Burst is the token bucket (0: 20 ms of the rate, at least 16 full frames).
	Burst Bytes `yaml:"burst" json:"burst,omitempty"`
	// For is how long the limit lasts (default 10m); an anomaly while it
	// lasts renews it.
	For Duration `yaml:"for" json:"for,omitempty"`
}

// DefaultThrottleFor is how long a limit lasts without `for`.
const DefaultThrottleFor = Duration(10 * 60 * 1e9)

// BitRate is a network rate in bits per second, read as tc reads one: a
// number, then optionally a unit: bit (or none), kbit, mbit, gbit, tbit
// (decimal), kibit, mibit, gibit, tibit (binary), or bps, kbps, mbps, gbps,
// tbps (bytes per second, decimal); any case.
type BitRate uint64

// ParseBitRate reads a rate such as 3Mbit or 500kbit.
func ParseBitRate(s string) (BitRate, error) {
	bad := fmt.Errorf("must be a rate such as 3Mbit, 500kbit or 1Gbit (bits per second; bps units are bytes), not %q", s)
	t := strings.TrimSpace(s)
	i := strings.LastIndexAny(t, "0123456789.")
	if i < 0 {
		return 0, bad
	}
	num, unit := strings.TrimSpace(t[:i+1]), strings.ToLower(strings.TrimSpace(t[i+1:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, bad
	}
	if f < 0 {
		return 0, errors.New("must not be negative")
	}
	mult, ok := rateUnits[unit]
	if !ok {
		return 0, bad
	}
	v := f * mult
	if v >= 1<<62 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return BitRate(v), nil
}

var rateUnits = map[string]float64{
	"": 1, "bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
	"kibit": 1 << 10, "mibit": 1 << 20, "gibit": 1 << 30, "tibit": 1 << 40,
	"bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9, "tbps": 8e12,
}

// String writes the rate with the largest decimal bit unit that divides it.
func (r BitRate) String() string {
	for _, u := range []struct {
		name string
		v    BitRate
	}{{"Tbit", 1e12}, {"Gbit", 1e9}, {"Mbit", 1e6}, {"kbit", 1e3}} {
		if r >= u.v && r%u.v == 0 {
			return strconv.FormatUint(uint64(r/u.v), 10) + u.name
		}
	}
	return strconv.FormatUint(uint64(r), 10) + "bit"
}

// UnmarshalYAML accepts "3Mbit" style rates.
func (r *BitRate) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a rate such as 3Mbit")
	}
	v, err := ParseBitRate(n.Value)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalYAML writes the rate with a unit.
func (r BitRate) MarshalYAML() (any, error) { return r.String(), nil }

// MarshalText lets JSON encode a rate as "3Mbit".
func (r BitRate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses a rate (used by JSON).
func (r *BitRate) UnmarshalText(t []byte) error {
	v, err := ParseBitRate(string(t))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// CheckThrottle says what is wrong with a limit, by field ("" when fine).
func CheckThrottle(t Throttle) (field, problem string) {
	switch {
	case t.Rate == 0:
		return "rate", "is required, > 0 (such as 3Mbit)"
	case t.Rate < 8000:
		return "rate", fmt.Sprintf("%s is below 8kbit, the least a token bucket can pace", t.Rate)
	case t.Burst < 0 || t.Burst > 1<<30:
		return "burst", "must be between 0 and 1GiB"
	case t.For.D() < 0:
		return "for", "must not be negative"
	}
	return "", ""
}
