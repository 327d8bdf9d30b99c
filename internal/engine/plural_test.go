package engine

import (
	"testing"

	"github.com/hoist/hoist/internal/config"
)

func TestPluralReasons(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{count(1, "machine"), "1 machine"},
		{count(0, "machine"), "0 machines"},
		{count(2, "replica"), "2 replicas"},
		{needRoom(1), "1 task needs room"},
		{needRoom(4), "4 tasks need room"},
	} {
		if c.got != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}
}

// labelled is the policy's label, a space and the reason, as config names it.
func TestLabelledIsLabelAndReason(t *testing.T) {
	for _, c := range []struct {
		p config.Policy
		i int
	}{{config.Policy{}, 0}, {config.Policy{}, 12}, {config.Policy{Name: "cpu"}, 3}} {
		if got, want := labelled(&c.p, c.i, "cpu 61 within 10%"), c.p.Label(c.i)+" cpu 61 within 10%"; got != want {
			t.Errorf("labelled = %q, want %q", got, want)
		}
	}
}
