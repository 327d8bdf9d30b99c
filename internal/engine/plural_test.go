package engine

import "testing"

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
