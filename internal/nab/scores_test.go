package nab

import (
	"bytes"
	"compress/gzip"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scoresCorpus is two tiny files: a.csv (3 rows) and b.csv (2 rows), 5
// minutes apart from 2014-01-01 00:00.
func scoresCorpus() *Corpus {
	mk := func(name string, n int) File {
		f := File{Name: name, Values: make([]float64, n)}
		for i := range n {
			f.Times = append(f.Times, time.Date(2014, 1, 1, 0, 5*i, 0, 0, time.UTC))
		}
		return f
	}
	return &Corpus{Files: []File{mk("a.csv", 3), mk("b.csv", 2)}, Profiles: DefaultProfiles}
}

const goodScores = `file,timestamp,anomaly_score
a.csv,2014-01-01 00:00:00,0.1
a.csv,2014-01-01 00:05:00,0.5
a.csv,2014-01-01 00:10:00,1
b.csv,2014-01-01 00:00:00,0
b.csv,2014-01-01 00:05:00,0.25
`

func TestReadScores(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(goodScores))
	zw.Close()
	for name, input := range map[string][]byte{"plain": []byte(goodScores), "gzip": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			s, err := readScores(bytes.NewReader(input), "x.csv", scoresCorpus())
			if err != nil {
				t.Fatal(err)
			}
			want := [][]float64{{0.1, 0.5, 1}, {0, 0.25}}
			for i := range want {
				if !slicesEqual(s.Series[i], want[i]) {
					t.Fatalf("series %d: %v, want %v", i, s.Series[i], want[i])
				}
			}
			if s.Mismatches != 0 {
				t.Fatalf("%d mismatches", s.Mismatches)
			}
		})
	}
}

func slicesEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReadScoresPairsByPosition(t *testing.T) {
	in := strings.Replace(goodScores, "a.csv,2014-01-01 00:05:00", "a.csv,2014-01-01 00:00:00", 1)
	s, err := readScores(strings.NewReader(in), "x.csv", scoresCorpus())
	if err != nil {
		t.Fatal(err)
	}
	if s.Mismatches != 1 || !strings.HasPrefix(s.First, "x.csv:3:7: ") || s.Series[0][1] != 0.5 {
		t.Fatalf("mismatches %d, first %q, series %v", s.Mismatches, s.First, s.Series[0])
	}
}

func TestReadScoresErrors(t *testing.T) {
	tests := []struct{ name, input, want string }{
		{"bad header", "a,b,c\n", "x.csv:1:1: header"},
		{"unknown file", "file,timestamp,anomaly_score\nz.csv,2014-01-01 00:00:00,1\n", `x.csv:2:1: file: "z.csv"`},
		{"bad score", strings.Replace(goodScores, ",0.25", ",high", 1), "x.csv:6:27: anomaly_score"},
		{"NaN score", strings.Replace(goodScores, ",0.25", ",NaN", 1), "x.csv:6:27: anomaly_score: not a finite number"},
		{"bad timestamp", strings.Replace(goodScores, "b.csv,2014-01-01 00:05:00", "b.csv,yesterday", 1), "x.csv:6:7: timestamp"},
		{"missing rows", strings.TrimSuffix(goodScores, "b.csv,2014-01-01 00:05:00,0.25\n"), "b.csv has 1 scores for 2 rows"},
		{"extra rows", goodScores + "b.csv,2014-01-01 00:10:00,0\n", "x.csv:7:1: file: more rows for b.csv"},
		{"wrong field count", goodScores + "b.csv,1\n", "x.csv:7:1: wrong number of fields"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readScores(strings.NewReader(tc.input), "x.csv", scoresCorpus())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func FuzzReadScores(f *testing.F) {
	f.Add([]byte(goodScores))
	f.Add([]byte("file,timestamp,anomaly_score\na.csv,2014-01-01 00:00:00,1e400\n"))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<16 {
			return
		}
		s, err := readScores(bytes.NewReader(in), "x.csv", scoresCorpus())
		if err != nil {
			return
		}
		for i, f := range scoresCorpus().Files {
			if len(s.Series[i]) != len(f.Values) {
				t.Fatalf("file %d: %d scores for %d rows", i, len(s.Series[i]), len(f.Values))
			}
			for _, v := range s.Series[i] {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("non-finite score %v accepted", v)
				}
			}
		}
	})
}

func TestReadThresholds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "thresholds.json")
	os.WriteFile(path, []byte(`{"d": {"standard": {"score": 1, "threshold": 0.5},
		"reward_low_FP_rate": {"threshold": 0.6}, "reward_low_FN_rate": {"threshold": 0.4}},
		"half": {"standard": {"threshold": 0.5}}}`), 0o644)
	thr, err := ReadThresholds(path, "d")
	if err != nil {
		t.Fatal(err)
	}
	if thr["standard"] != 0.5 || thr["reward_low_FP"] != 0.6 || thr["reward_low_FN"] != 0.4 {
		t.Fatalf("thresholds %v", thr)
	}
	if _, err := ReadThresholds(path, "nope"); !errors.Is(err, ErrNoThreshold) {
		t.Fatalf("unknown detector: %v", err)
	}
	if _, err := ReadThresholds(path, "half"); !errors.Is(err, ErrNoThreshold) || !strings.Contains(err.Error(), "half.reward_low_FP_rate") {
		t.Fatalf("missing profile: %v", err)
	}
}

// ScoreAt agrees with ScoreDetections row by row: a score at the
// threshold is a detection.
func TestScoreAt(t *testing.T) {
	c := corpusOf(tiny())
	scores := make([]float64, 100)
	scores[45], scores[20], scores[71] = 0.7, 0.6, 0.5
	got, err := c.ScoreAt([][]float64{scores}, Thresholds{"standard": 0.5, "reward_low_FP": 0.6, "reward_low_FN": 0.7})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{
		c.Normalize(ScoreDetections(c.Files[0].clone(), detections(100, 45, 20, 71), standard), standard),
		c.Normalize(ScoreDetections(c.Files[0].clone(), detections(100, 45, 20), lowFP), lowFP),
		c.Normalize(ScoreDetections(c.Files[0].clone(), detections(100, 45), lowFN), lowFN),
	}
	for k := range want {
		if !near(got[k].Score, want[k]) {
			t.Errorf("%s: %v, want %v", got[k].Profile, got[k].Score, want[k])
		}
	}
	if _, err := c.ScoreAt([][]float64{scores}, Thresholds{"standard": 0.5}); !errors.Is(err, ErrNoThreshold) {
		t.Errorf("missing threshold: %v", err)
	}
}

func (f File) clone() *File { return &f }

func TestScoresName(t *testing.T) {
	for in, want := range map[string]string{"x/ARTime.csv.gz": "ARTime", "numenta.csv": "numenta", "knn": "knn"} {
		if got := ScoresName(in); got != want {
			t.Errorf("ScoresName(%q) = %q, want %q", in, got, want)
		}
	}
}
