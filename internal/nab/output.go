package nab

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
)

// WriteJSON prints one JSON object per result and line:
// {"detector":…,"standard":…,"reward_low_FP":…,"reward_low_FN":…}, scores
// rounded to 2 decimals.
func WriteJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("nab: write json: %w", err)
		}
	}
	return nil
}

// WriteTable prints the results as an aligned table (scores rounded as in
// WriteJSON), with each profile's
// chosen threshold (a row is a detection when its score is at least the
// threshold; "-" means never firing was best).
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "detector\tstandard\treward_low_FP\treward_low_FN\tthreshold (std/lowFP/lowFN)\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%s/%s/%s\t\n", r.Detector,
			round2(r.Score("standard")), round2(r.Score("reward_low_FP")), round2(r.Score("reward_low_FN")),
			threshold(r, "standard"), threshold(r, "reward_low_FP"), threshold(r, "reward_low_FN"))
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
