package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/nab"
)

// newNABCmd builds "hoist nab": score the anomaly detectors, or a
// detector's published outputs, on the Numenta Anomaly Benchmark. The work
// is done by package nab; this only parses flags.
func newNABCmd() *cobra.Command {
	var (
		dir        string
		detector   string
		scores     string
		name       string
		thresholds string
		asJSON     bool
		output     string
		split      bool
	)
	cmd := &cobra.Command{
		Use:   "nab --data DIR [--detector NAME | --scores FILE [--thresholds FILE] [--name NAME] | --split] [-o json]",
		Short: "Score anomaly detectors on the Numenta Anomaly Benchmark",
		Long: `Score hoist's streaming anomaly detectors on the Numenta Anomaly Benchmark
(NAB) as NAB's own scorer does: DIR holds data/<category>/<name>.csv,
labels/combined_windows.json and config/profiles.json. Each detector gets one
threshold per cost profile, chosen over the whole corpus, and its normalised
score (null detector 0, perfect detector 100). Without --detector every
registered detector and the null detector are scored.

--scores FILE scores a detector's published outputs instead: CSV rows
"file,timestamp,anomaly_score" (gzip or not) covering every data file, as in
NAB's results/<detector>/. With --thresholds (NAB's config/thresholds.json)
it is scored at that file's thresholds for the detector (--name, default the
file's base name, e.g. ARTime for ARTime.csv.gz) and with the threshold
search; without, with the search only.

--split replays the choice of the default ensemble's parameters on each half
of the corpus (files at even and odd positions): the best of a grid of
candidates on one half, with that half's thresholds, is scored on the other
half (out-of-sample), both ways; also at the detectors' own alarm level 0.5
and with the other half's own threshold search.

-o json prints one object per line: the three profiles' scores, the
thresholds, where they come from and the detector's CPU time per point.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				output = formatJSON
			}
			if output != formatTable && output != formatJSON {
				return usageErrorf("nab: -o %q: the output format is table or json", output)
			}
			asJSON = output == formatJSON
			if dir == "" {
				return errors.New("nab: no data directory: pass --data DIR or set HOIST_NAB_DATA")
			}
			if scores != "" && detector != "" {
				return errors.New("nab: --scores and --detector exclude each other")
			}
			if scores == "" && (thresholds != "" || name != "") {
				return errors.New("nab: --thresholds and --name need --scores")
			}
			if split && (scores != "" || detector != "") {
				return errors.New("nab: --split excludes --scores and --detector")
			}
			cmd.SilenceUsage = true // from here on errors are not about usage
			if split {
				c, err := nab.Load(dir)
				if err != nil {
					return err
				}
				tr, err := c.CrossValidate(nab.EnsembleGrid())
				if err != nil {
					return err
				}
				return nab.WriteSplit(cmd.OutOrStdout(), tr, asJSON)
			}
			var results []nab.Result
			var err error
			if scores != "" {
				if name == "" {
					name = nab.ScoresName(scores)
				}
				var c *nab.Corpus
				if c, err = nab.Load(dir); err != nil {
					return err
				}
				var sc *nab.Scores
				results, sc, err = c.ScoreFile(scores, name, thresholds)
				if err == nil && sc.Mismatches > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %d rows' timestamps differ from the data's (scores are paired with rows by position, as NAB does); first: %s\n", sc.Mismatches, sc.First)
				}
			} else {
				var names []string
				if detector != "" {
					names = []string{detector}
				}
				results, err = nab.Run(dir, names)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return nab.WriteJSON(cmd.OutOrStdout(), results)
			}
			return nab.WriteTable(cmd.OutOrStdout(), results)
		},
	}
	cmd.Flags().StringVar(&dir, "data", os.Getenv("HOIST_NAB_DATA"), "NAB directory; defaults to $HOIST_NAB_DATA")
	cmd.Flags().StringVar(&detector, "detector", "", "score only this detector (a registered name, \"default\" or \"null\"); default: all")
	cmd.Flags().StringVar(&scores, "scores", "", "score a detector's published outputs: CSV file,timestamp,anomaly_score (gzip or not)")
	cmd.Flags().StringVar(&thresholds, "thresholds", "", "with --scores: NAB thresholds file (config/thresholds.json) to score at, besides the search")
	cmd.Flags().StringVar(&name, "name", "", "with --scores: the detector's name in the thresholds file; default: the scores file's base name")
	cmd.Flags().BoolVar(&split, "split", false, "replay the default ensemble's parameter choice on each half of the corpus, score the other half")
	cmd.Flags().StringVarP(&output, "output", "o", formatTable, "output format: table, or json (one object per result and line)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "same as -o json")
	return cmd
}
