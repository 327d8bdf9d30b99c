package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/nab"
)

// newNABCmd builds "hoist nab": score the anomaly detectors on the Numenta
// Anomaly Benchmark. The work is done by nab.Run; this only parses flags.
func newNABCmd() *cobra.Command {
	var (
		dir      string
		detector string
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "nab --data DIR [--detector NAME] [--json]",
		Short: "Score the anomaly detectors on the Numenta Anomaly Benchmark",
		Long: `Score hoist's streaming anomaly detectors on the Numenta Anomaly Benchmark
(NAB): DIR holds data/<category>/<name>.csv, labels/combined_windows.json and
config/profiles.json. Each detector gets one threshold per cost profile,
chosen over the whole corpus, and its normalised score (null detector 0,
perfect detector 100). Without --detector every registered detector and the
null detector are scored.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("nab: no data directory: pass --data DIR or set HOIST_NAB_DATA")
			}
			cmd.SilenceUsage = true // from here on errors are not about usage
			var names []string
			if detector != "" {
				names = []string{detector}
			}
			results, err := nab.Run(dir, names)
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
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per detector and line")
	return cmd
}

func init() { extraCommands = append(extraCommands, newNABCmd) }
