package nab

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hoist/hoist/internal/anomaly"
)

// scoreDigest hashes the bits of every score, in order.
func scoreDigest(scores [][]float64) string {
	h := fnv.New64a()
	var b [8]byte
	for _, file := range scores {
		for _, s := range file {
			u := math.Float64bits(s)
			for i := range b {
				b[i] = byte(u >> (8 * i))
			}
			h.Write(b[:])
		}
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// pinnedDetectors are the detectors whose scores TestScoresPinned holds:
// every registered one, and the ensemble and records with the warm-ups a
// guard stream can set.
var pinnedDetectors = []struct {
	name   string
	warmup int
}{
	{"ensemble", 0}, {"knn", 0}, {"records", 0}, {"relentropy", 0}, {"robustz", 0},
	{"ensemble", 30}, {"records", 30}, {"robustz", 30}, {"relentropy", 30},
}

// pinned are the digests of every score of every NAB file ("nab") and of
// random series ("random") as computed at 970f6ce, before the detectors'
// hot paths were rewritten for speed (issue 13 item 6): a rewrite that
// changes any score in its last bit fails here. A deliberate change of a
// detector's results updates them (and docs/anomaly.md's figures).
var pinned = map[string]string{
	"ensemble/0/nab":       "0fe0666ffd47df8c",
	"ensemble/0/random":    "6c92e2df7dfb7719",
	"knn/0/nab":            "75e6bb67703250e1",
	"knn/0/random":         "526f8c4fe98ccaca",
	"records/0/nab":        "bdcc2a41ac9b8780",
	"records/0/random":     "248cb1c6aa94a3bc",
	"relentropy/0/nab":     "37eff6078851ee3d",
	"relentropy/0/random":  "3388e0c1aac9f541",
	"robustz/0/nab":        "40b53e85ea76e216",
	"robustz/0/random":     "d1cf5486097e6a6b",
	"ensemble/30/nab":      "a6f7d3aa5e8712c2",
	"ensemble/30/random":   "df58eebfa3337d99",
	"records/30/nab":       "0c1736d9b5b67eca",
	"records/30/random":    "7c01263484bc5ed0",
	"robustz/30/nab":       "284b727f4d5824ee",
	"robustz/30/random":    "66b66fd90259df44",
	"relentropy/30/nab":    "a7ae396be6886aba",
	"relentropy/30/random": "1fdd2fe9a1f6ebff",
}

// randomSeries are series with the shapes the guard sees (noise around a
// level, steps, spikes, flat stretches with ties, huge levels) for
// TestScoresPinned.
func randomSeries() [][]float64 {
	rng := rand.New(rand.NewPCG(13, 6))
	var out [][]float64
	for k := range 6 {
		n := 3000 + 500*k
		v := make([]float64, n)
		level := []float64{0, 1, 100, 1e6, 0.001, 50}[k]
		for i := range v {
			switch {
			case k == 1 && i%7 != 0:
				v[i] = float64(rng.IntN(4)) // few distinct values: ties
			case k == 5 && i > 1000 && i < 1600:
				v[i] = level // flat
			default:
				v[i] = level + rng.NormFloat64()*math.Max(level, 1)*0.05
			}
			if i > n/2 {
				v[i] += level * 0.3 // a level shift
			}
			if i%911 == 0 {
				v[i] += 20 * math.Max(level, 1) // spikes
			}
		}
		out = append(out, v)
	}
	return out
}

// TestScoresPinned holds every detector's scores, bit for bit, on the NAB
// corpus and on random series to those of the version that pinned them.
func TestScoresPinned(t *testing.T) {
	c, err := Load(realDir(t))
	if err != nil {
		t.Fatal(err)
	}
	random := &Corpus{}
	for _, v := range randomSeries() {
		random.Files = append(random.Files, File{Values: v})
	}
	for _, d := range pinnedDetectors {
		mk := func() anomaly.Detector {
			det, err := anomaly.NewWarmup(d.name, d.warmup)
			if err != nil {
				t.Fatal(err)
			}
			return det
		}
		for _, set := range []struct {
			name string
			c    *Corpus
		}{{"nab", c}, {"random", random}} {
			if testing.Short() && set.name == "nab" && d.name != "ensemble" {
				continue
			}
			scores, err := set.c.Detect(mk)
			if err != nil {
				t.Fatal(err)
			}
			key := fmt.Sprintf("%s/%d/%s", d.name, d.warmup, set.name)
			got := scoreDigest(scores)
			if want := pinned[key]; got != want {
				t.Errorf("%s: scores digest %s, pinned %s", key, got, want)
			}
		}
	}
}
