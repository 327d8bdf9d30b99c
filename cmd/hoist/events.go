package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/apiclient"
	"github.com/hoist/hoist/internal/events"
)

func newEventsCmd() *cobra.Command {
	o := &clientOptions{}
	var follow bool
	var q apiclient.EventQuery
	var limit int
	cmd := &cobra.Command{Use: "events", Short: "Print the decision log of a running hoist (-f follows it live)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			page, err := c.Events(cmd.Context(), q, limit)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if !follow {
				if len(page.Events) == 0 && !structured(o.output) {
					fmt.Fprintln(cmd.ErrOrStderr(), noEvents(q))
					return nil
				}
				return o.show(w, page, func(tw *tabwriter.Writer) {
					eventHeader(tw, o.wide())
					for _, e := range page.Events {
						eventRow(tw, e, o.wide())
					}
				})
			}
			// Following: one event a line (a JSON line with -o json, a
			// YAML document with -o yaml), no table: a table is aligned
			// over rows not known yet.
			if len(page.Events) == 0 && !structured(o.output) {
				fmt.Fprintln(cmd.ErrOrStderr(), noEvents(q)+"; waiting for new ones")
			}
			for _, e := range page.Events {
				if err := printEvent(w, e, o.output); err != nil {
					return err
				}
			}
			return c.Follow(cmd.Context(), q, page.LastSeq, func(e events.Event) error { return printEvent(w, e, o.output) })
		}}
	addClientFlags(cmd, o)
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new events")
	f.StringVar(&q.App, "app", "", "only this app")
	f.StringVar(&q.Pool, "pool", "", "only this pool")
	f.StringVar(&q.Machine, "machine", "", "only this machine")
	f.StringSliceVar(&q.Kinds, "kind", nil, "only these kinds (app.scale, or a subject such as machine)")
	f.StringVar(&q.Since, "since", "", "only since (RFC 3339, or a duration back: 1h)")
	f.IntVarP(&limit, "limit", "n", 50, "how many past events to print first")
	completeNames(cmd, o, map[string]nameKind{"app": appNames, "pool": poolNames, "machine": machineNames})
	return cmd
}

// noEvents says that no event matched, and which filter it was.
func noEvents(q apiclient.EventQuery) string {
	var filters []string
	for _, f := range []struct{ name, v string }{{"app", q.App}, {"pool", q.Pool}, {"machine", q.Machine}, {"since", q.Since}} {
		if f.v != "" {
			filters = append(filters, fmt.Sprintf("--%s %s", f.name, f.v))
		}
	}
	if len(q.Kinds) > 0 {
		filters = append(filters, "--kind "+strings.Join(q.Kinds, ","))
	}
	if len(filters) == 0 {
		return "no events yet"
	}
	return "no events match " + clean(strings.Join(filters, " "))
}

func eventHeader(tw *tabwriter.Writer, wide bool) {
	if wide {
		fmt.Fprintln(tw, "SEQ\tTIME\tKIND\tAPP\tPOOL\tMACHINE\tNODE\tCHANGE\tREASON\tINPUTS")
		return
	}
	fmt.Fprintln(tw, "TIME\tKIND\tSUBJECT\tREASON")
}

// eventRow is one event of the table; machine.* events name their machine.
func eventRow(tw *tabwriter.Writer, e events.Event, wide bool) {
	reason := e.Reason
	if e.DryRun {
		reason += " (dry run)"
	}
	when := e.Time.UTC().Format("2006-01-02 15:04:05")
	if !wide {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", when, clean(string(e.Kind)), orDash(clean(e.Subject())), clean(reason))
		return
	}
	change := "-"
	if e.From != 0 || e.To != 0 {
		change = fmt.Sprintf("%d -> %d", e.From, e.To)
	}
	keys := make([]string, 0, len(e.Inputs))
	for k := range e.Inputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	inputs := make([]string, len(keys))
	for i, k := range keys {
		inputs[i] = fmt.Sprintf("%s=%.4g", k, e.Inputs[k])
	}
	fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, when, clean(string(e.Kind)), orDash(clean(e.App)), orDash(clean(e.Pool)),
		orDash(clean(e.Machine)), orDash(clean(e.Node)), change, clean(reason), orDash(clean(strings.Join(inputs, " "))))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printEvent prints one followed event: a JSON line, a YAML document, or
// its text with the strings from the server cleaned.
func printEvent(w io.Writer, e events.Event, format string) error {
	switch format {
	case formatJSON:
		return writeLine(w, e)
	case formatYAML:
		if _, err := io.WriteString(w, "---\n"); err != nil {
			return err
		}
		return writeData(w, formatYAML, e)
	}
	_, err := fmt.Fprintln(w, clean(e.String()))
	return err
}
