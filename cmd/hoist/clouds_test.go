package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The cloud examples validate; a pool without its flavor or instance type is
// refused at its line.
func TestCloudExamplesValidate(t *testing.T) {
	out, err := cli(t, "validate", "../../examples/openstack.yaml", "../../examples/ec2.yaml")
	if err != nil || strings.Count(out, ": ok") != 2 {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	dir := t.TempDir()
	for file, cut := range map[string]string{"openstack.yaml": "flavor:", "ec2.yaml": "instance_type:"} {
		b, err := os.ReadFile(filepath.Join("../../examples", file))
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.Contains(l, cut) {
				lines = append(lines, l)
			}
		}
		bad := filepath.Join(dir, file)
		os.WriteFile(bad, []byte(strings.Join(lines, "\n")), 0o644)
		root := newRootCmd(testDefaults())
		var stderr bytes.Buffer
		root.SetOut(io.Discard)
		root.SetErr(&stderr)
		root.SetArgs([]string{"validate", bad})
		err = root.Execute()
		out := stderr.String()
		field := strings.TrimSuffix(cut, ":")
		re := regexp.MustCompile(regexp.QuoteMeta(bad) + `:\d+:\d+: pools\[0\]\.(openstack|ec2)\.` + field + `: is required`)
		if err == nil || !re.MatchString(out) {
			t.Errorf("validate without %s: %v\n%s", field, err, out)
		}
	}
}
