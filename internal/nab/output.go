package nab

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
)

// WriteJSON prints one JSON object per result and line (see
// Result.MarshalJSON).
func WriteJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("nab: write json: %w", err)
		}
	}
	return nil
}

// WriteTable prints the results as an aligned table, scores rounded to 2
// decimals, with each profile's threshold (a row is a detection when its
// score is at least the threshold; "-" means never firing was best), where
// the thresholds come from, and the detector's time per point.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "detector\tstandard\treward_low_FP\treward_low_FN\tthreshold (std/lowFP/lowFN)\tfrom\tns/point\t")
	for _, r := range results {
		cost := "-"
		if r.NsPerPoint > 0 {
			cost = fmt.Sprintf("%.0f", r.NsPerPoint)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%s/%s/%s\t%s\t%s\t\n", r.Detector,
			round2(r.Score("standard")), round2(r.Score("reward_low_FP")), round2(r.Score("reward_low_FN")),
			threshold(r, "standard"), threshold(r, "reward_low_FP"), threshold(r, "reward_low_FN"), r.From, cost)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("nab: write table: %w", err)
	}
	return nil
}

func threshold(r Result, profile string) string {
	for _, s := range r.Scores {
		if s.Profile == profile {
			if math.IsInf(s.Threshold, 1) {
				return "-"
			}
			return fmt.Sprintf("%.4f", s.Threshold)
		}
	}
	return "?"
}

// splitLine is one direction of a split-half check in JSON.
type splitLine struct {
	ChosenOn   string             `json:"chosen_on"`
	ScoredOn   string             `json:"scored_on"`
	Candidates int                `json:"candidates"`
	Candidate  string             `json:"candidate"`
	InSample   map[string]float64 `json:"in_sample"`
	OutSample  map[string]float64 `json:"out_of_sample"`
	AtAlarm    map[string]float64 `json:"out_of_sample_at_0.5"`
	OtherBest  map[string]float64 `json:"other_half_own_thresholds"`
	Thresholds map[string]float64 `json:"thresholds"`
}

func scoreMap(ps []ProfileScore) map[string]float64 {
	m := make(map[string]float64, len(ps))
	for _, s := range ps {
		m[s.Profile] = round4(s.Score)
	}
	return m
}

func other(half string) string {
	if half == "even" {
		return "odd"
	}
	return "even"
}

// WriteSplit prints a split-half check: one JSON object per direction and
// line, or a table.
func WriteSplit(w io.Writer, tr [2]Transfer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, t := range tr {
			thr := make(map[string]float64, len(t.InSample))
			for _, s := range t.InSample {
				thr[s.Profile] = math.Round(s.Threshold*1e6) / 1e6
			}
			if err := enc.Encode(splitLine{ChosenOn: t.ChosenOn, ScoredOn: other(t.ChosenOn), Candidates: t.Candidates,
				Candidate: t.Candidate, InSample: scoreMap(t.InSample), OutSample: scoreMap(t.OutSample), AtAlarm: scoreMap(t.AtAlarm),
				OtherBest: scoreMap(t.OtherBest), Thresholds: thr}); err != nil {
				return fmt.Errorf("nab: write json: %w", err)
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "chosen on\tcandidate (of n)\tin-sample std/lowFP/lowFN\tscored on\tout-of-sample std/lowFP/lowFN\tat 0.5\tits own thresholds\t")
	for _, t := range tr {
		f := func(ps []ProfileScore) string {
			r := Result{Scores: ps}
			return fmt.Sprintf("%.2f/%.2f/%.2f", r.Score("standard"), r.Score("reward_low_FP"), r.Score("reward_low_FN"))
		}
		fmt.Fprintf(tw, "%s\t%s (of %d)\t%s\t%s\t%s\t%s\t%s\t\n", t.ChosenOn, t.Candidate, t.Candidates,
			f(t.InSample), other(t.ChosenOn), f(t.OutSample), f(t.AtAlarm), f(t.OtherBest))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("nab: write table: %w", err)
	}
	return nil
}
