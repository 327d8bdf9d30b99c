package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// newAppsCmd is `hoist apps`: its verbs are in apps_*.go.
func newAppsCmd() *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{Use: "apps", Short: "List, show, deploy, re-policy, throttle and delete apps on a running hoist"}
	addClientFlags(cmd, o)
	cmd.AddCommand(newAppsLsCmd(o), newAppsShowCmd(o), newAppsDeployCmd(o), newAppsSetPolicyCmd(o),
		newAppsRmCmd(o), newAppsResetPolicyCmd(o), newAppsThrottleCmd(o), newAppsUnthrottleCmd(o))
	return cmd
}

// readSpec reads a YAML or JSON object from a file (- for stdin), as the
// server takes it: the server checks it and names the fields it refuses.
func readSpec(path string) (map[string]any, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%s: empty", path)
	}
	return m, nil
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}
