package nab

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hoist/hoist/internal/anomaly"
)

// realDir returns the NAB corpus directory: $HOIST_NAB_DATA, or the copy kept
// in the repository (testdata/nab). Its absence is a failure.
func realDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HOIST_NAB_DATA")
	if dir == "" {
		dir = filepath.Join("..", "..", "testdata", "nab")
	}
	if _, err := os.Stat(filepath.Join(dir, "labels", "combined_windows.json")); err != nil {
		t.Fatalf("NAB corpus missing: %v", err)
	}
	return dir
}

func TestRealCorpusShape(t *testing.T) {
	c, err := Load(realDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Files) != 58 || c.Windows() != 116 {
		t.Fatalf("%d files, %d windows; want 58 and 116", len(c.Files), c.Windows())
	}
	want := []Profile{
		{Name: "standard", TP: 1, FN: 1, FP: 0.11},
		{Name: "reward_low_FP", TP: 1, FN: 1, FP: 0.22},
		{Name: "reward_low_FN", TP: 1, FN: 2, FP: 0.11},
	}
	if !reflect.DeepEqual(c.Profiles, want) {
		t.Fatalf("profiles %+v", c.Profiles)
	}
	for _, p := range c.Profiles {
		if got := c.Normalize(c.nullScore(p), p); got != 0 {
			t.Errorf("%s: null scores %v", p.Name, got)
		}
		if got := c.Normalize(c.perfectScore(p), p); !near(got, 100) {
			t.Errorf("%s: perfect scores %v", p.Name, got)
		}
	}
}

// TestRealCorpusScores scores every detector (only "records" with -short)
// against floors a little under the measured scores (docs/anomaly.md). The
// ensemble, which anomaly.Default names (see the anomaly tests), must reach
// 76 on the standard profile (measured 76.86), past ARTime's published
// 74.85 (in-sample:
// its parameters were chosen on this corpus; see TestOfficialScores for
// the published figure and docs/anomaly.md for the split-half check).
func TestRealCorpusScores(t *testing.T) {
	dir := realDir(t)
	names := DefaultNames()
	if testing.Short() {
		names = []string{"records", Null}
	}
	results, err := Run(dir, names)
	if err != nil {
		t.Fatal(err)
	}
	floor := map[string]float64{ // standard profile
		"ensemble": 76, "records": 70, "relentropy": 50, "knn": 45, "robustz": 35,
	}
	for _, r := range results {
		t.Logf("%-10s standard %6.2f  reward_low_FP %6.2f  reward_low_FN %6.2f",
			r.Detector, r.Score("standard"), r.Score("reward_low_FP"), r.Score("reward_low_FN"))
		if len(r.Scores) != 3 {
			t.Fatalf("%s: %d profile scores", r.Detector, len(r.Scores))
		}
		if r.Detector == Null {
			for _, s := range r.Scores {
				if s.Score != 0 {
					t.Errorf("null scores %v on %s", s.Score, s.Profile)
				}
			}
			continue
		}
		if got := r.Score("standard"); got < floor[r.Detector] {
			t.Errorf("%s: standard score %.2f below %.2f", r.Detector, got, floor[r.Detector])
		}
	}
}

func TestRealCorpusDeterministic(t *testing.T) {
	dir := realDir(t)
	names := []string{"records", "relentropy"}
	first, err := Run(dir, names)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Run(dir, names)
	if err != nil {
		t.Fatal(err)
	}
	for i := range first { // timings vary; scores and thresholds must not
		first[i].NsPerPoint, second[i].NsPerPoint = 0, 0
	}
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("two runs differ:\n%+v\n%+v", first, second)
	}
}

// TestNoLookahead: changing a file's values from a row on leaves every
// earlier row's score unchanged, for every detector, at several cut points
// of a real file (the detectors are online; this guards the evaluation
// path, e.g. against a pre-pass over the whole file).
func TestNoLookahead(t *testing.T) {
	c, err := Load(realDir(t))
	if err != nil {
		t.Fatal(err)
	}
	var f *File
	for i := range c.Files {
		if c.Files[i].Name == "realKnownCause/nyc_taxi.csv" {
			f = &c.Files[i]
		}
	}
	if f == nil {
		t.Fatal("nyc_taxi.csv missing")
	}
	for _, name := range anomaly.Names() {
		full := &Corpus{Profiles: c.Profiles, Files: []File{*f}}
		want, err := full.Detect(func() anomaly.Detector { d, _ := anomaly.New(name); return d })
		if err != nil {
			t.Fatal(err)
		}
		for _, cut := range []int{800, 3000, 7000} {
			changed := *f
			changed.Values = append([]float64(nil), f.Values...)
			for i := cut; i < len(changed.Values); i++ {
				changed.Values[i] = -changed.Values[i] * 3
			}
			cc := &Corpus{Profiles: c.Profiles, Files: []File{changed}}
			got, err := cc.Detect(func() anomaly.Detector { d, _ := anomaly.New(name); return d })
			if err != nil {
				t.Fatal(err)
			}
			for i := range cut {
				if got[0][i] != want[0][i] {
					t.Fatalf("%s: row %d scores %v with the values from row %d changed, %v without", name, i, got[0][i], cut, want[0][i])
				}
			}
			if slicesEqual(got[0][cut:], want[0][cut:]) {
				t.Errorf("%s: changing the values from row %d changed no score (the test would not see a leak)", name, cut)
			}
		}
	}
}
