// Command hoist autoscales applications and the machines under them.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/examples"
	"github.com/hoist/hoist/internal/config"
)

// exitError carries an exit code out of a command without printing usage.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	root := newRootCmd(cliDefaults{listen: defaultListen})
	if err := root.Execute(); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			fmt.Fprintln(os.Stderr, clean(ee.err.Error()))
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "hoist:", clean(err.Error()))
		os.Exit(1)
	}
}

// cliDefaults are the defaults that depend on the machine: tests give their
// own (no test depends on a fixed port being free).
type cliDefaults struct {
	// listen is where `hoist run` on the simulator serves without --listen.
	listen string
}

// newRootCmd is hoist with every subcommand.
func newRootCmd(d cliDefaults) *cobra.Command {
	var verbose bool
	root := &cobra.Command{
		Use:   "hoist",
		Short: "Autoscale applications and the machines under them",
		Long: `hoist scales an application's replicas first and the machines under them
second, in one control loop driven by a descriptor file. With no descriptor it
runs the built-in quickstart on a simulated cluster.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
		},
	}
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "log debug messages to stderr")
	root.AddCommand(
		// The control loop and its dry runs.
		newRunCmd(d), newPlanCmd(), newSimCmd(), newBenchCmd(), newValidateCmd(),
		// Clients of a running hoist's API.
		newAppsCmd(), newPoolCmd(), newEventsCmd(), newReloadCmd(),
		// Tools around the loop.
		newRulesCmd(), newBalancerCmd(), newAgentCmd(), newLocalCmd(), newNABCmd(),
	)
	return root
}

// loadConfig reads the descriptor at path, or the built-in quickstart when
// path is empty.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Parse(examples.QuickstartName, examples.Quickstart)
	}
	return config.Load(path)
}
