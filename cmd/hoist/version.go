package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are stamped at build time (make release):
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=0123abc" ./cmd/hoist
//
// The linker can only set package-level strings, so these two are; nothing
// writes them at run time. Unstamped, buildVersion reads the module and VCS
// information the go command records.
var (
	version string
	commit  string
)

// versionInfo is what `hoist version` prints.
type versionInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Modified bool   `json:"modified,omitempty"` // built from a work tree with changes
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// buildVersion is this binary's version: the stamped one, else what
// runtime/debug.ReadBuildInfo knows (the module version, the VCS revision of
// a build from a checkout).
func buildVersion() versionInfo {
	v := versionInfo{Version: version, Commit: commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.modified":
				v.Modified = s.Value == "true" && commit == ""
			}
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	return v
}

// String is the line of `hoist --version`.
func (v versionInfo) String() string {
	c := v.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if v.Modified {
		c += "+modified"
	}
	return fmt.Sprintf("hoist %s (commit %s, %s %s)", v.Version, c, v.Go, v.Platform)
}

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{Use: "version", Short: "Print hoist's version, commit and Go version", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			v := buildVersion()
			if structured(output) {
				return writeData(cmd.OutOrStdout(), output, v)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), v)
			return err
		}}
	cmd.Flags().StringVarP(&output, "output", "o", formatTable, formatHelp)
	return cmd
}
