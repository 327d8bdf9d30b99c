package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/config"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check descriptors; report every error as FILE:LINE:COL: field: problem",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, path := range args {
				_, err := config.Load(path)
				var errs config.Errors
				switch {
				case err == nil:
					fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", path)
				case errors.As(err, &errs):
					bad++
					for _, e := range errs {
						fmt.Fprintln(cmd.ErrOrStderr(), e)
					}
				default:
					bad++
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", path, err)
				}
			}
			if bad > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %d descriptors invalid", bad, len(args))}
			}
			return nil
		},
	}
}
