package main

import (
	"encoding/json"
	"fmt"
	"io"
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
			asJSON := o.output == "json"
			if !follow {
				return o.show(w, page, func(tw *tabwriter.Writer) {
					for _, e := range page.Events {
						fmt.Fprintln(tw, clean(e.String()))
					}
				})
			}
			// Following: one event a line (JSON lines with -o json).
			for _, e := range page.Events {
				if err := printEvent(w, e, asJSON); err != nil {
					return err
				}
			}
			return c.Follow(cmd.Context(), q, page.LastSeq, func(e events.Event) error { return printEvent(w, e, asJSON) })
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
	return cmd
}

// printEvent prints one event: a JSON line, or its text with the strings
// from the server cleaned.
func printEvent(w io.Writer, e events.Event, asJSON bool) error {
	if asJSON {
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	}
	_, err := fmt.Fprintln(w, clean(e.String()))
	return err
}
