package nab

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeCorpus lays out a small NAB directory under t.TempDir().
func writeCorpus(t *testing.T, files map[string]string, labels string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		write("data/"+name, content)
	}
	write("labels/combined_windows.json", labels)
	return dir
}

// rows renders n rows at 5-minute steps from 2014-01-01 00:00.
func rows(n int) string {
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	for i := range n {
		h, m := (i*5)/60, (i*5)%60
		b.WriteString("2014-01-01 ")
		b.WriteString(twoDigits(h) + ":" + twoDigits(m) + ":00,")
		b.WriteString(twoDigits(i % 100))
		b.WriteString("\n")
	}
	return b.String()
}

func twoDigits(i int) string { return string([]byte{byte('0' + i/10), byte('0' + i%10)}) }

func TestLoad(t *testing.T) {
	dir := writeCorpus(t, map[string]string{
		"b/second.csv": rows(100),
		"a/first.csv":  rows(40),
	}, `{
		"b/second.csv": [["2014-01-01 03:20:00.000000", "2014-01-01 04:05:00.000000"],
		                 ["2014-01-01 01:00:00.000000", "2014-01-01 01:02:00.000000"]],
		"a/first.csv": []
	}`)
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Files) != 2 || c.Files[0].Name != "a/first.csv" || c.Files[1].Name != "b/second.csv" {
		t.Fatalf("files not loaded in name order: %+v", c.Files)
	}
	f := c.Files[1]
	// 03:20 is row 40, 04:05 row 49; 01:00-01:02 holds row 12 only.
	want := []Window{{Start: 12, End: 12}, {Start: 40, End: 49}}
	if !reflect.DeepEqual(f.Windows, want) {
		t.Fatalf("windows %v, want %v", f.Windows, want)
	}
	if f.Probation != 15 || len(f.Values) != 100 || f.Values[42] != 42 {
		t.Fatalf("probation %d, %d values, value[42] %v", f.Probation, len(f.Values), f.Values[42])
	}
	if !reflect.DeepEqual(c.Profiles, DefaultProfiles) {
		t.Fatalf("profiles without config/profiles.json: %+v", c.Profiles)
	}
}

func TestLoadErrors(t *testing.T) {
	good := rows(50)
	tests := []struct {
		name   string
		files  map[string]string
		labels string
		is     error // expected in the chain, if any
	}{
		{"missing data file", map[string]string{}, `{"a/x.csv": []}`, fs.ErrNotExist},
		{"bad labels json", map[string]string{"a/x.csv": good}, `{"a/x.csv": [`, nil},
		{"bad value", map[string]string{"a/x.csv": "timestamp,value\n2014-01-01 00:00:00,abc\n"}, `{"a/x.csv": []}`, nil},
		{"bad timestamp", map[string]string{"a/x.csv": "timestamp,value\nyesterday,1\n"}, `{"a/x.csv": []}`, nil},
		{"window without rows", map[string]string{"a/x.csv": good}, `{"a/x.csv": [["2020-01-01 00:00:00", "2020-01-02 00:00:00"]]}`, nil},
		{"overlapping windows", map[string]string{"a/x.csv": good}, `{"a/x.csv": [["2014-01-01 00:10:00", "2014-01-01 01:00:00"], ["2014-01-01 00:50:00", "2014-01-01 02:00:00"]]}`, nil},
		{"no files", map[string]string{}, `{}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeCorpus(t, tc.files, tc.labels))
			if err == nil {
				t.Fatal("want an error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v does not wrap %v", err, tc.is)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nothing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing directory: %v", err)
	}
}

func TestResultJSON(t *testing.T) {
	r := []Result{{Detector: "x", From: "search", NsPerPoint: 1234.4, Scores: []ProfileScore{
		{Profile: "reward_low_FN", Score: 3.14159, Threshold: 0.25},
		{Profile: "standard", Score: 70.12345, Threshold: 0.5123456789},
		{Profile: "reward_low_FP", Score: -1.00005, Threshold: math.Inf(1)},
	}}}
	var b bytes.Buffer
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	want := `{"detector":"x","thresholds_from":"search","standard":70.1235,"reward_low_FP":-1.0001,"reward_low_FN":3.1416,` +
		`"thresholds":{"reward_low_FN":0.25,"reward_low_FP":null,"standard":0.512346},"ns_per_point":1234}` + "\n"
	if b.String() != want {
		t.Fatalf("json %q, want %q", b.String(), want)
	}
	b.Reset()
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "standard") || !strings.Contains(b.String(), "70.12") || !strings.Contains(b.String(), "1234") {
		t.Fatalf("table:\n%s", b.String())
	}
}

func TestLoadProfiles(t *testing.T) {
	dir := writeCorpus(t, map[string]string{"a/x.csv": rows(50)}, `{"a/x.csv": []}`)
	path := filepath.Join(dir, "config", "profiles.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"standard": {"CostMatrix": {"tpWeight": 1, "fnWeight": 1, "fpWeight": 0.5}},
		"reward_low_FP_rate": {"CostMatrix": {"tpWeight": 1, "fnWeight": 1, "fpWeight": 0.2}},
		"reward_low_FN_rate": {"CostMatrix": {"tpWeight": 2, "fnWeight": 3, "fpWeight": 0.1}}}`)
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Profile{{"standard", 1, 1, 0.5}, {"reward_low_FP", 1, 1, 0.2}, {"reward_low_FN", 2, 3, 0.1}}
	if !reflect.DeepEqual(c.Profiles, want) {
		t.Fatalf("profiles %+v, want %+v", c.Profiles, want)
	}
	write(`{"standard": {"CostMatrix": {"tpWeight": 1, "fnWeight": 1, "fpWeight": 0.5}}}`)
	if _, err := Load(dir); err == nil {
		t.Fatal("missing profiles: want an error")
	}
}

func TestRunUnknownDetector(t *testing.T) {
	dir := writeCorpus(t, map[string]string{"a/x.csv": rows(50)}, `{"a/x.csv": []}`)
	if _, err := Run(dir, []string{"nope"}); err == nil {
		t.Fatal("unknown detector: want an error")
	}
	res, err := Run(dir, []string{Null, "records"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Detector != Null || res[1].Detector != "records" {
		t.Fatalf("results %+v", res)
	}
}
