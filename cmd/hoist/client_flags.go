package main

// The flags and output of the verbs that talk to a running hoist over its
// /v1 API (internal/apiclient); one verb a file: apps_*.go, pool_*.go,
// events.go, reload.go.

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/apiclient"
)

// clientOptions are the flags every API verb takes.
type clientOptions struct {
	server, token, tokenFile, ca string
	insecure                     bool
	output                       string
	timeout                      time.Duration
}

func addClientFlags(cmd *cobra.Command, o *clientOptions) {
	f := cmd.PersistentFlags()
	f.StringVar(&o.server, "server", "", "hoist API address (default $HOIST_SERVER, else "+apiclient.DefaultServer+")")
	f.StringVar(&o.token, "token", "", "API token (default $HOIST_TOKEN; prefer the variable or --token-file: arguments are visible to other users)")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding the API token")
	f.StringVar(&o.ca, "ca", "", "PEM certificate to trust (hoist's self-signed DATA/tls/cert.pem)")
	f.BoolVar(&o.insecure, "insecure-skip-verify", false, "do not verify the server's certificate (INSECURE)")
	f.StringVarP(&o.output, "output", "o", formatTable, formatHelp)
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "request timeout")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]string{formatTable, formatWide, formatJSON, formatYAML}, cobra.ShellCompDirectiveNoFileComp))
}

// client is the API client the flags describe.
func (o *clientOptions) client() (*apiclient.Client, error) {
	if err := checkFormat(o.output); err != nil {
		return nil, err
	}
	return apiclient.New(apiclient.Options{Server: o.server, Token: o.token, TokenFile: o.tokenFile,
		CA: o.ca, Insecure: o.insecure, Timeout: o.timeout})
}

// wide says whether the table has its extra columns (-o wide).
func (o *clientOptions) wide() bool { return o.output == formatWide }

// show prints an answer as JSON or YAML (-o json, -o yaml) or with table,
// whose strings from the server go through clean.
func (o *clientOptions) show(w io.Writer, v any, table func(tw *tabwriter.Writer)) error {
	if structured(o.output) {
		return writeData(w, o.output, v)
	}
	tw := newTable(w)
	table(tw)
	return tw.Flush()
}

// showWarnings prints the warnings an answer came with.
func showWarnings(tw *tabwriter.Writer, warnings []string) {
	for _, x := range warnings {
		fmt.Fprintf(tw, "warning: %s\n", clean(x))
	}
}

// newTable is the writer of every table.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }
