package workload

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/config"
)

func TestPatterns(t *testing.T) {
	m := time.Minute
	cases := []struct {
		p    Pattern
		at   time.Duration
		want float64
	}{
		{Pattern{Shape: config.ShapeConstant, Base: 7}, 99 * m, 7},
		{Pattern{Shape: config.ShapeStep, Base: 1, Peak: 9, At: config.Duration(m)}, 59 * time.Second, 1},
		{Pattern{Shape: config.ShapeStep, Base: 1, Peak: 9, At: config.Duration(m)}, m, 9},
		{Pattern{Shape: config.ShapeStep, Base: 1, Peak: 9, At: config.Duration(m), Duration: config.Duration(m)}, 2 * m, 1},
		{Pattern{Shape: config.ShapeRamp, Base: 0, Peak: 10, At: config.Duration(m), Duration: config.Duration(10 * m)}, 6 * m, 5},
		{Pattern{Shape: config.ShapeRamp, Base: 0, Peak: 10, At: config.Duration(m), Duration: config.Duration(10 * m)}, 60 * m, 10},
		{Pattern{Shape: config.ShapeSine, Base: 10, Peak: 30, Duration: config.Duration(20 * m)}, 0, 10},
		{Pattern{Shape: config.ShapeSine, Base: 10, Peak: 30, Duration: config.Duration(20 * m)}, 10 * m, 30},
		{Pattern{Shape: config.ShapeSpike, Base: 5, Peak: 105, At: config.Duration(m), Duration: config.Duration(2 * m)}, 2 * m, 105},
		{Pattern{Shape: config.ShapeSpike, Base: 5, Peak: 105, At: config.Duration(m), Duration: config.Duration(2 * m)}, 90 * time.Second, 55},
		{Pattern{Shape: config.ShapeSpike, Base: 5, Peak: 105, At: config.Duration(m), Duration: config.Duration(2 * m)}, 3 * m, 5},
	}
	for _, c := range cases {
		if got := c.p.Rate(c.at); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s at %s = %v, want %v", c.p.Shape, c.at, got, c.want)
		}
	}
}

func TestCSV(t *testing.T) {
	s, err := ParseCSV(strings.NewReader("minute,requests\n0,10\n1,20\n2,0\n3,0\n4,0\n5,40\n"), "requests", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Rate(30 * time.Second); got != 15 {
		t.Errorf("interpolated rate = %v, want 15", got)
	}
	if s.Length() != 6*time.Minute || s.Peak() != 40 {
		t.Errorf("length %v peak %v", s.Length(), s.Peak())
	}
	if cut := s.CutZeroRuns(3 * time.Minute); cut != 3 || len(s.Values) != 3 {
		t.Errorf("cut %d, left %v", cut, s.Values)
	}
	s.ScaleToPeak(400)
	if s.Values[0] != 100 || s.Values[2] != 400 {
		t.Errorf("scaled %v", s.Values)
	}
	// Default column is the last one.
	s, err = ParseCSV(strings.NewReader("a,b\n1,2\n"), "", time.Second)
	if err != nil || s.Values[0] != 2 {
		t.Errorf("default column: %v %v", s, err)
	}
	for in, want := range map[string]string{
		"a,b\n1,x\n":    "line 2: column b: \"x\" is not a number",
		"a,b\n1,-3\n":   "line 2: column b: \"-3\" is not a number >= 0",
		"a\n":           "no rows",
		"a,b\n1,2\n3\n": "line 3",
	} {
		if _, err := ParseCSV(strings.NewReader(in), "", time.Second); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
	if _, err := ParseCSV(strings.NewReader("a,b\n1,2\n"), "c", time.Second); err == nil || !strings.Contains(err.Error(), "columns: a, b") {
		t.Errorf("unknown column: %v", err)
	}
}

func FuzzParseCSV(f *testing.F) {
	f.Add("minute,requests\n0,10\n1,20\n", "requests")
	f.Add("a\n\"x\n", "")
	f.Fuzz(func(t *testing.T, data, column string) {
		s, err := ParseCSV(strings.NewReader(data), column, time.Second)
		if err != nil {
			return
		}
		for _, v := range s.Values {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("bad value %v accepted", v)
			}
		}
	})
}
