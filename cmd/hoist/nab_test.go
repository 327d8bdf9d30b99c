package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func runNAB(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd(testDefaults())
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(append([]string{"nab"}, args...))
	err := root.Execute()
	return out.String(), errb.String(), err
}

// `hoist nab --scores` on ARTime's published outputs gives back NAB's
// published scores at NAB's thresholds, and the search's figures too.
func TestNABScoresCommand(t *testing.T) {
	out, _, err := runNAB(t, "--data", "../../testdata/nab", "--json",
		"--scores", "../../testdata/nab/official_scores/ARTime.csv.gz",
		"--thresholds", "../../testdata/nab/config/thresholds.json")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("output:\n%s", out)
	}
	var first, second struct {
		Detector   string
		From       string `json:"thresholds_from"`
		Standard   float64
		Thresholds map[string]float64
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	// NAB results/final_results.json: ARTime standard 74.85377223215792.
	if first.Detector != "ARTime" || !strings.HasSuffix(first.From, "thresholds.json") ||
		first.Standard != 74.8538 || first.Thresholds["standard"] != 0.317486 {
		t.Errorf("at NAB's thresholds: %+v", first)
	}
	if second.From != "search" || second.Standard < first.Standard {
		t.Errorf("search: %+v", second)
	}
}

func TestNABCommandErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--data", ""}, "no data directory"},
		{[]string{"--data", "x", "--scores", "s", "--detector", "knn"}, "exclude each other"},
		{[]string{"--data", "x", "--thresholds", "t"}, "need --scores"},
		{[]string{"--data", "x", "--split", "--detector", "knn"}, "--split excludes"},
		{[]string{"--data", "../../testdata/nab", "--scores", "../../testdata/nab/official_scores/ARTime.csv.gz",
			"--thresholds", "../../testdata/nab/config/thresholds.json", "--name", "nobody"}, `detector "nobody"`},
		{[]string{"--data", "../../testdata/nab", "--scores", "../../testdata/nab/labels/combined_windows.json"}, "combined_windows.json:1:1"},
	}
	for _, tc := range tests {
		t.Setenv("HOIST_NAB_DATA", "")
		_, _, err := runNAB(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}
