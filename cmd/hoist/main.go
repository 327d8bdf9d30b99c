// Command hoist autoscales applications and the machines under them.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	// Time zones built in: schedule windows name them, and hoist's image
	// (FROM scratch) and minimal hosts have no /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/examples"
	"github.com/hoist/hoist/internal/config"
)

func main() {
	os.Exit(execute(newRootCmd(cliDefaults{listen: defaultListen}), os.Args[1:], os.Stderr))
}

// execute runs the command line args and returns the exit code, having
// printed the error, if any, to stderr.
func execute(root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	var ue *usageError
	switch {
	case errors.As(err, &ee):
		fmt.Fprintln(stderr, clean(ee.err.Error()))
	case errors.As(err, &ue), isCobraUsage(err):
		fmt.Fprintf(stderr, "hoist: %s\nsee '%s --help'\n", clean(err.Error()), cmd.CommandPath())
	default:
		fmt.Fprintln(stderr, "hoist:", clean(err.Error()))
	}
	return exitCode(err)
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
runs the built-in quickstart on a simulated cluster.

` + exitCodesHelp,
		Version:       buildVersion().Version,
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
		newVersionCmd(),
	)
	root.SetVersionTemplate(buildVersion().String() + "\n")
	markUsageErrors(root)
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
