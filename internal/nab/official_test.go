package nab

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// publishedResults reads NAB's published scoreboard,
// results/final_results.json (github.com/numenta/NAB @ ea702d7):
// detector -> NAB profile key -> normalised score.
func publishedResults(t *testing.T, dir string) map[string]map[string]float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "results", "final_results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]map[string]float64
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOfficialScores scores the raw outputs NAB publishes for three
// detectors (testdata/nab/official_scores, from NAB's results/<detector>/)
// at NAB's own thresholds (config/thresholds.json) and checks every profile
// against the published scoreboard within 0.01: an outside check of the
// scorer. The threshold search must do at least as well.
func TestOfficialScores(t *testing.T) {
	dir := realDir(t)
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	published := publishedResults(t, dir)
	for _, det := range []string{"ARTime", "numenta", "knncad"} {
		scores, err := ReadScores(filepath.Join(dir, "official_scores", det+".csv.gz"), c)
		if err != nil {
			t.Fatal(err)
		}
		thr, err := ReadThresholds(filepath.Join(dir, "config", "thresholds.json"), det)
		if err != nil {
			t.Fatal(err)
		}
		if scores.Mismatches != 0 {
			t.Errorf("%s: %d timestamp mismatches, first %s", det, scores.Mismatches, scores.First)
		}
		at, err := c.ScoreAt(scores.Series, thr)
		if err != nil {
			t.Fatal(err)
		}
		swept, err := c.Sweep(scores.Series)
		if err != nil {
			t.Fatal(err)
		}
		for k, ps := range at {
			want, ok := published[det][profileKeys[ps.Profile]]
			if !ok {
				t.Fatalf("%s %s: not in final_results.json", det, ps.Profile)
			}
			t.Logf("%-8s %-13s published %8.4f  at NAB's threshold %.6f: %8.4f  search: %8.4f at %.6f",
				det, ps.Profile, want, ps.Threshold, ps.Score, swept[k].Score, swept[k].Threshold)
			if math.Abs(ps.Score-want) > 0.01 {
				t.Errorf("%s %s: %.4f at NAB's threshold, published %.4f", det, ps.Profile, ps.Score, want)
			}
			if swept[k].Score < ps.Score-1e-9 {
				t.Errorf("%s %s: search found %.4f, below %.4f at NAB's threshold", det, ps.Profile, swept[k].Score, ps.Score)
			}
		}
	}
}
