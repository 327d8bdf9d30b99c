package anomaly

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// A shorter warm-up scores a gross jump soon after the start, where the
// default warm-up is still silent; 0 is the detector's own.
func TestNewWarmup(t *testing.T) {
	for _, name := range []string{"robustz", "records", "relentropy", "ensemble", "default"} {
		d, err := NewWarmup(name, 20)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		own, _ := New(name)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range 60 {
			v := 1000 + 20*rng.NormFloat64()
			if s := own.Score(v); s != 0 {
				t.Fatalf("%s: the default warm-up scored %.2f at value %d", name, s, i)
			}
			d.Score(v)
		}
		if s := d.Score(100_000); s < 0.5 {
			t.Errorf("%s warm-up 20: a 100x jump after 60 values scored %.2f, want >= 0.5", name, s)
		}
		if s := own.Score(100_000); s != 0 {
			t.Errorf("%s default: scored %.2f during its warm-up", name, s)
		}
	}
	if d, err := NewWarmup("robustz", 0); err != nil || d.(*RobustZ).cfg.Window != DefaultRobustZConfig().Window {
		t.Errorf("warm-up 0 is not the default: %v", err)
	}
	for _, c := range []struct {
		name   string
		warmup int
		want   string
	}{
		{"knn", 20, "no settable warm-up"},
		{"robustz", 3, "below 8"},
		{"nope", 20, "unknown detector"},
	} {
		if _, err := NewWarmup(c.name, c.warmup); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewWarmup(%q, %d) = %v, want %q", c.name, c.warmup, err, c.want)
		}
	}
}
