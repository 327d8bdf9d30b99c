package main

// Output formats: -o is the output format everywhere (table, wide, json,
// yaml); directories a command writes to are --out.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// The output formats of -o.
const (
	formatTable = "table"
	formatWide  = "wide" // the table with more columns
	formatJSON  = "json"
	formatYAML  = "yaml"
)

// formatHelp is the help of every -o flag.
const formatHelp = "output format: table, wide, json or yaml"

// checkFormat refuses an -o that is not an output format, as a usage error.
func checkFormat(format string) error {
	switch format {
	case formatTable, formatWide, formatJSON, formatYAML:
		return nil
	}
	return usageErrorf("-o %q: the output format is table, wide, json or yaml", format)
}

// structured says whether format prints the answer as data (json, yaml)
// rather than as a table.
func structured(format string) bool { return format == formatJSON || format == formatYAML }

// writeData prints v as indented JSON or as YAML with the JSON field names
// (the API's types have JSON tags only). Strings need no escaping here: both
// encoders quote control characters.
func writeData(w io.Writer, format string, v any) error {
	if format == formatJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	// JSON is YAML: read it as a node tree (keeping the field order) and
	// write it back in block style.
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return err
	}
	blockStyle(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// blockStyle drops the flow and quoting styles a JSON document is read
// with; the encoder quotes again the strings that need it.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// refuseOutputDir is for the commands whose -o was once their output
// directory: it is now the output format everywhere, and the directory is
// --out. A hidden -o stays so that an old command line gets a clear error
// instead of a confusing one.
func refuseOutputDir(cmd *cobra.Command) *string {
	var v string
	cmd.Flags().StringVarP(&v, "output", "o", "", "")
	_ = cmd.Flags().MarkHidden("output")
	return &v
}

// checkOutputDir is the error for a command line using the old -o DIR.
func checkOutputDir(cmd *cobra.Command) error {
	if !cmd.Flags().Changed("output") {
		return nil
	}
	v, _ := cmd.Flags().GetString("output")
	return usageErrorf("%s: -o is the output format in hoist; give the directory with --out %s", cmd.CommandPath(), v)
}

// plural is "1 machine", "2 machines".
func plural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, what)
	}
	if strings.HasSuffix(what, "s") {
		return fmt.Sprintf("%d %ses", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// writeLine prints v as one line of JSON.
func writeLine(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}
