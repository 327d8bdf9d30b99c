package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/config"
)

// validation is what `validate -o json|yaml` prints.
type validation struct {
	Valid   int             `json:"valid"`
	Invalid int             `json:"invalid"`
	Files   []validatedFile `json:"files"`
}

// validatedFile is one descriptor's result.
type validatedFile struct {
	File   string      `json:"file"`
	OK     bool        `json:"ok"`
	Errors []problemAt `json:"errors"`
	// Notes are what a Compose file has that hoist ignores.
	Notes []problemAt `json:"notes"`
	// Apps say which policies each app got (valid files only).
	Apps []validatedApp `json:"apps,omitempty"`
}

// validatedApp is the policies an app got: as written, or the predictive
// default (an slo and no policies written).
type validatedApp struct {
	Name     string   `json:"name"`
	Policies []string `json:"policies"`
	Default  bool     `json:"predictive_default,omitempty"`
}

func appsOf(cfg *config.Config) []validatedApp {
	out := make([]validatedApp, 0, len(cfg.Apps))
	for _, a := range cfg.Apps {
		v := validatedApp{Name: a.Name, Policies: []string{}, Default: a.PredictiveDefault}
		for _, p := range a.Policies {
			d := p.Type
			if m := p.Metric; m != "" {
				d += " " + m
			}
			if p.Query != "" {
				d += " query"
			}
			v.Policies = append(v.Policies, d)
		}
		out = append(out, v)
	}
	return out
}

// appLine is one app's policies as validate prints them.
func appLine(a validatedApp) string {
	s := "  app " + a.Name + ": "
	switch {
	case a.Default:
		return s + "predictive (the default: an slo and no policies written)"
	case len(a.Policies) == 0:
		return s + "no policies: replicas stay as they are"
	}
	return s + strings.Join(a.Policies, ", ")
}

// problemAt is a config.FieldError as data.
type problemAt struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func problemsOf(errs []*config.FieldError) []problemAt {
	out := make([]problemAt, len(errs))
	for i, e := range errs {
		out[i] = problemAt{File: e.File, Line: e.Line, Col: e.Col, Field: e.Path, Message: e.Msg}
	}
	return out
}

func newValidateCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check descriptors; report every error as FILE:LINE:COL: field: problem",
		Long: `Check descriptors (hoist's or Compose files). Every error is reported as
FILE:LINE:COL: field: problem; with -o json or -o yaml, as data. The exit code
is 0 when every file is valid, 3 when one is not, 1 when one cannot be read.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res := validation{Files: []validatedFile{}}
			unreadable := 0
			for _, path := range args {
				f := validatedFile{File: path, Errors: []problemAt{}, Notes: []problemAt{}}
				cfg, err := config.Load(path)
				var errs config.Errors
				switch {
				case err == nil:
					f.OK = true
					f.Notes = problemsOf(cfg.Notes)
					f.Apps = appsOf(cfg)
				case errors.As(err, &errs):
					f.Errors = problemsOf(errs)
				default:
					unreadable++
					f.Errors = []problemAt{{File: path, Message: err.Error()}}
				}
				if f.OK {
					res.Valid++
				} else {
					res.Invalid++
				}
				res.Files = append(res.Files, f)
				if structured(output) {
					continue
				}
				if f.OK {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", path)
					for _, a := range f.Apps {
						fmt.Fprintln(cmd.OutOrStdout(), appLine(a))
					}
				}
				for _, e := range f.Errors {
					fmt.Fprintln(cmd.ErrOrStderr(), problemLine(e))
				}
			}
			if structured(output) {
				if err := writeData(cmd.OutOrStdout(), output, res); err != nil {
					return err
				}
			}
			if res.Invalid == 0 {
				return nil
			}
			code := exitInvalid
			if unreadable > 0 {
				code = exitFailure
			}
			return &exitError{code: code, err: fmt.Errorf("%d of %s invalid", res.Invalid, plural(len(args), "descriptor"))}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", formatTable, formatHelp)
	return cmd
}

// problemLine is FILE:LINE:COL: field: problem, or FILE: problem.
func problemLine(p problemAt) string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Message)
	}
	return (&config.FieldError{File: p.File, Line: p.Line, Col: p.Col, Path: p.Field, Msg: p.Message}).Error()
}
