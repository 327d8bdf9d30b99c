package main

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/api"
	"github.com/hoist/hoist/internal/apiclient"
	"github.com/hoist/hoist/internal/config"
)

// Exit codes, documented in docs/cli.md and `hoist --help`: scripts branch
// on them.
const (
	exitOK          = 0
	exitFailure     = 1 // anything else: the command did not do what it was asked
	exitUsage       = 2 // a wrong command line: unknown command or flag, wrong arguments
	exitInvalid     = 3 // invalid input: a descriptor or spec refused, by hoist or by the server (HTTP 400)
	exitUnreachable = 4 // no hoist answers at the server address
	exitRefused     = 5 // the server refused: not authenticated or allowed, no such app or pool, a conflict
)

// exitCodesHelp ends `hoist --help`.
const exitCodesHelp = `Exit codes:
  0  ok
  1  failure
  2  usage: unknown command or flag, wrong arguments
  3  invalid input: a descriptor or spec refused (by hoist, or by the server: HTTP 400)
  4  unreachable: no hoist answers at --server / $HOIST_SERVER
  5  refused by the server: token missing or not allowed, no such app or pool, conflict`

// exitError carries an exit code out of a command; its message is printed
// as it is.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError is a wrong command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// exitCode is the exit code of a command's error.
func exitCode(err error) int {
	var ee *exitError
	var ue *usageError
	var ce config.Errors
	var fe *config.FieldError
	var ae *api.Error
	var unreachable *apiclient.UnreachableError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue), isCobraUsage(err):
		return exitUsage
	case errors.As(err, &ce), errors.As(err, &fe):
		return exitInvalid
	case errors.As(err, &unreachable):
		return exitUnreachable
	case errors.As(err, &ae):
		switch {
		case ae.Status == http.StatusBadRequest || ae.Status == http.StatusUnprocessableEntity:
			return exitInvalid
		case ae.Status >= 400 && ae.Status < 500:
			return exitRefused
		}
	}
	return exitFailure
}

// isCobraUsage says whether err is one of the command-line errors cobra
// returns without a hook to mark them (required flags, flag groups).
func isCobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "required flag(s) ") || strings.HasPrefix(msg, "if any flags in the group ")
}

// markUsageErrors makes the errors cobra finds in a command line (flags,
// arguments, unknown commands) usageErrors, for every command under c.
func markUsageErrors(c *cobra.Command) {
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		args := c.Args
		if args == nil {
			args = legacyArgs
		}
		if c.HasSubCommands() && !c.Runnable() {
			// Runnable, so that its arguments are checked: an unknown
			// subcommand is a usage error, not help and success.
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return &usageError{err: err}
			}
			return nil
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(c)
}

// legacyArgs is what cobra checks of a root command without Args, for
// every command: one with subcommands takes no arguments of its own, so one
// is an unknown subcommand.
func legacyArgs(cmd *cobra.Command, args []string) error {
	if !cmd.HasSubCommands() || len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?"
		for _, x := range s {
			msg += "\n\t" + x
		}
	}
	return errors.New(msg)
}
