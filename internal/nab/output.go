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
