package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as "10s", "5m", "1h30m".
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML accepts Go duration strings; a bare 0 is allowed.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a duration such as 30s or 5m")
	}
	if n.Value == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("must be a duration such as 30s or 5m, not %q", n.Value)
	}
	if v < 0 {
		return fmt.Errorf("must not be negative")
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the Go duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalText lets JSON encode a Duration as "30s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText parses "30s" (used by JSON).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("must be a duration such as 30s or 5m, not %q", string(b))
	}
	if v < 0 {
		return errors.New("must not be negative")
	}
	*d = Duration(v)
	return nil
}

// Bytes is an amount of memory, read as Docker reads one (docs/units.md).
type Bytes int64

// ParseBytes reads a memory size exactly as `docker service create
// --limit-memory` and Compose's memory fields do (go-units' RAMInBytes): a
// number, then optionally a space and a unit b, k, m, g, t or p in any case,
// alone or followed by b or ib. Every unit is binary: 512m, 512M, 512MB and
// 512MiB are all 512 x 2^20 bytes, and 4GB is 4 GiB. The bytes are truncated
// to an integer. hoist also takes Kubernetes' Ki, Mi, Gi, Ti, Pi (binary too),
// which Docker does not.
func ParseBytes(s string) (Bytes, error) {
	bad := fmt.Errorf("must be a memory size such as 512MiB, 4GB or 512m (binary units, as Docker reads them), not %q", s)
	// Docker's split: the unit is what follows the last digit, dot or space.
	sep := strings.LastIndexAny(s, "0123456789. ")
	if sep == -1 {
		return 0, bad
	}
	num, sfx := s[:sep+1], s[sep+1:]
	if s[sep] == ' ' {
		num = s[:sep]
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, bad
	}
	if f < 0 {
		return 0, errors.New("must not be negative")
	}
	mult, ok := binaryUnit(strings.ToLower(sfx))
	if !ok {
		return 0, bad
	}
	v := f * mult
	if v >= math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return Bytes(int64(v)), nil
}

// binaryUnit is the multiplier of a lower-cased unit: "", b, k, kb, kib,
// ki (hoist only), and so on up to p.
func binaryUnit(sfx string) (float64, bool) {
	if sfx == "" || sfx == "b" {
		return 1, true
	}
	if len(sfx) > 3 {
		return 0, false
	}
	i := strings.IndexByte("kmgtp", sfx[0])
	if i < 0 {
		return 0, false
	}
	switch sfx[1:] {
	case "", "b", "ib", "i":
		return math.Pow(1024, float64(i+1)), true
	}
	return 0, false
}

// UnmarshalYAML accepts "512MiB" style sizes.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a memory size such as 512MiB or 4GiB")
	}
	v, err := ParseBytes(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// String formats the size with a binary unit.
func (b Bytes) String() string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", b>>10)
	}
	return strconv.FormatInt(int64(b), 10)
}

// MarshalYAML writes the size with a unit.
func (b Bytes) MarshalYAML() (any, error) { return b.String(), nil }

// MarshalText lets JSON encode a size as "512MiB".
func (b Bytes) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText parses a size (used by JSON).
func (b *Bytes) UnmarshalText(t []byte) error {
	v, err := ParseBytes(string(t))
	if err != nil {
		return err
	}
	*b = v
	return nil
}
