package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hoist/hoist/internal/events"
)

// run runs a command line in this process as main does and returns its
// exit code, standard output and standard error.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	root := newRootCmd(testDefaults())
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	code := execute(root, args, &errOut)
	return code, out.String(), errOut.String()
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Every API verb prints the same answer in each format: a table (wide with
// more columns), JSON, and YAML with the JSON names.
func TestOutputFormats(t *testing.T) {
	r := startRuntime(t, nil, runtimeOptions{})
	verbs := []struct {
		args   []string
		header string // in the table
		wide   string // in the wide table only
	}{
		{[]string{"apps", "ls"}, "NAME", "STARTING"},
		{[]string{"apps", "show", "web"}, "image:", ""},
		{[]string{"pool", "ls"}, "PROVIDER", "MACHINE"},
		{[]string{"pool", "show", "workers"}, "MACHINE", ""},
		{[]string{"events", "--kind", "app"}, "SUBJECT", "INPUTS"},
	}
	for _, v := range verbs {
		t.Run(strings.Join(v.args, " "), func(t *testing.T) {
			args := append(v.args, "--server", r.url)
			code, table, stderr := run(t, append(args, "-o", "table")...)
			if code != 0 || !strings.Contains(table, v.header) {
				t.Fatalf("table: exit %d, want %q in:\n%s%s", code, v.header, table, stderr)
			}
			code, wide, stderr := run(t, append(args, "-o", "wide")...)
			if code != 0 || !strings.Contains(wide, v.header) && !strings.Contains(wide, v.wide) {
				t.Fatalf("wide: exit %d:\n%s%s", code, wide, stderr)
			}
			if v.wide != "" && (!strings.Contains(wide, v.wide) || strings.Contains(table, v.wide)) {
				t.Errorf("-o wide adds %q; table:\n%s\nwide:\n%s", v.wide, table, wide)
			}
			code, js, stderr := run(t, append(args, "-o", "json")...)
			var fromJSON map[string]any
			if code != 0 || json.Unmarshal([]byte(js), &fromJSON) != nil {
				t.Fatalf("json: exit %d:\n%s%s", code, js, stderr)
			}
			code, ym, stderr := run(t, append(args, "-o", "yaml")...)
			var fromYAML map[string]any
			if code != 0 || yaml.Unmarshal([]byte(ym), &fromYAML) != nil || strings.HasPrefix(ym, "{") {
				t.Fatalf("yaml: exit %d:\n%s%s", code, ym, stderr)
			}
			// Same keys at the top (the values move on as the run goes).
			if a, b := keys(fromJSON), keys(fromYAML); !reflect.DeepEqual(a, b) {
				t.Errorf("json keys %v, yaml keys %v", a, b)
			}
		})
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// YAML output keeps the API's JSON names and quotes what would not read
// back as the same string.
func TestWriteDataYAML(t *testing.T) {
	v := struct {
		Name  string  `json:"name"`
		Count int     `json:"count"`
		Odd   string  `json:"odd"`
		Esc   string  `json:"esc"`
		List  []int   `json:"list"`
		Empty *string `json:"empty"`
	}{"web", 2, "true", "a\x1b[2Jb\nc", []int{1, 2}, nil}
	var buf bytes.Buffer
	if err := writeData(&buf, formatYAML, v); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := yaml.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	want := map[string]any{"name": "web", "count": 2, "odd": "true", "esc": "a\x1b[2Jb\nc", "list": []any{1, 2}, "empty": nil}
	if !reflect.DeepEqual(back, want) {
		t.Errorf("read back %#v, want %#v\n%s", back, want, buf.String())
	}
	if strings.ContainsRune(buf.String(), '\x1b') {
		t.Errorf("a control character printed raw:\n%q", buf.String())
	}
}

// The exit codes docs/cli.md documents.
func TestExitCodes(t *testing.T) {
	r := startRuntime(t, nil, runtimeOptions{Tokens: tokensFile(t)})
	t.Setenv("HOIST_TOKEN", "")
	t.Setenv("HOIST_SERVER", "")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("pools:\n  - name: a\n\tmax: 1\n"), 0o600)
	badApp := filepath.Join(dir, "app.yaml")
	os.WriteFile(badApp, []byte("name: x\nimage: busybox\npools: [nosuchpool]\nreplicas: {min: 1, max: 2}\n"), 0o600)
	srv := []string{"--server", r.url, "--token", operatorTok}
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"ok", append([]string{"apps", "ls"}, srv...), 0, ""},
		{"version", []string{"version"}, 0, ""},
		{"unknown command", []string{"bogus"}, exitUsage, `unknown command "bogus" for "hoist"`},
		{"unknown subcommand", []string{"apps", "bogus"}, exitUsage, `unknown command "bogus" for "hoist apps"`},
		{"unknown flag", []string{"apps", "ls", "--bogus"}, exitUsage, "unknown flag: --bogus"},
		{"missing argument", []string{"apps", "show"}, exitUsage, "accepts 1 arg(s), received 0"},
		{"not a format", append([]string{"apps", "ls", "-o", "xml"}, srv...), exitUsage, "table, wide, json or yaml"},
		{"-o is no directory", []string{"sim", "-o", dir}, exitUsage, "give the directory with --out " + dir},
		{"bench -o", []string{"bench", "-o", dir}, exitUsage, "--out"},
		{"rules -o", []string{"rules", "-o", dir}, exitUsage, "--out"},
		{"valid descriptor", []string{"validate", "../../examples/quickstart.yaml"}, 0, ""},
		{"invalid descriptor", []string{"validate", bad}, exitInvalid, bad + ":3:1: found a tab character"},
		{"unreadable descriptor", []string{"validate", filepath.Join(dir, "none.yaml")}, exitFailure, "none.yaml"},
		{"invalid spec", append([]string{"apps", "deploy", "-f", badApp}, srv...), exitInvalid, "nosuchpool"},
		{"unreachable", []string{"apps", "ls", "--server", closedAddr(t)}, exitUnreachable, "no hoist answers at http://127.0.0.1:"},
		{"no token", []string{"apps", "ls", "--server", r.url}, exitRefused, ""},
		{"not allowed", []string{"reload", "--server", r.url, "--token", viewerTok}, exitRefused, ""},
		{"no such app", append([]string{"apps", "show", "nope"}, srv...), exitRefused, `no app named "nope"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := run(t, c.args...)
			if code != c.code || !strings.Contains(stderr, c.stderr) {
				t.Errorf("exit %d, want %d; stderr %q, want %q in it; stdout:\n%s", code, c.code, stderr, c.stderr, out)
			}
		})
	}
}

// With no hoist answering, the error says where it looked and how to say
// where hoist is.
func TestUnreachableHint(t *testing.T) {
	t.Setenv("HOIST_SERVER", closedAddr(t))
	code, _, stderr := run(t, "pool", "ls")
	for _, want := range []string{"no hoist answers at http://" + os.Getenv("HOIST_SERVER"), "--server", "HOIST_SERVER", "hoist run"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("%q not in %q", want, stderr)
		}
	}
	if code != exitUnreachable {
		t.Errorf("exit %d", code)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "hoist ") || !strings.Contains(out, "commit ") || !strings.Contains(out, "go1.") {
		t.Errorf("--version: %d %q", code, out)
	}
	code, out, _ = run(t, "version", "-o", "json")
	var v versionInfo
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Version == "" || v.Commit == "" || !strings.HasPrefix(v.Go, "go1.") {
		t.Errorf("version -o json: %d %q", code, out)
	}
}

// A filter that matches nothing says so, and which filter it was.
func TestEventsFilterMatchesNothing(t *testing.T) {
	r := startRuntime(t, nil, runtimeOptions{})
	code, out, stderr := run(t, "events", "--server", r.url, "--app", "nosuchapp", "--kind", "app.scale")
	if code != 0 || out != "" || !strings.Contains(stderr, "no events match --app nosuchapp --kind app.scale") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	// As data, an empty list, and nothing else on stdout.
	code, out, _ = run(t, "events", "--server", r.url, "--app", "nosuchapp", "-o", "json")
	var page struct{ Events []events.Event }
	if code != 0 || json.Unmarshal([]byte(out), &page) != nil || len(page.Events) != 0 {
		t.Errorf("json: exit %d, %q", code, out)
	}
}

// machine.* events name their machine in the table, not only the pool.
func TestEventRowNamesTheMachine(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		e    events.Event
		want string
	}{
		{events.Event{Time: at, Kind: events.MachineReady, Pool: "workers", Machine: "workers-3", Reason: "node joined"}, "workers-3"},
		{events.Event{Time: at, Kind: events.PoolScaleUp, Pool: "workers", Reason: "2 tasks need room"}, "workers"},
		{events.Event{Time: at, Kind: events.AppScale, App: "web", Pool: "workers", Reason: "cpu"}, "web"},
	} {
		var buf bytes.Buffer
		tw := newTable(&buf)
		eventRow(tw, c.e, false)
		tw.Flush()
		fields := strings.Fields(buf.String())
		if len(fields) < 4 || fields[3] != c.want {
			t.Errorf("%s: row %q, want subject %q", c.e.Kind, buf.String(), c.want)
		}
		if got := c.e.String(); !strings.Contains(got, " "+c.want+" ") {
			t.Errorf("%s: String %q does not name %q", c.e.Kind, got, c.want)
		}
	}
}

// Completion asks the server for app, pool and machine names.
func TestCompletionFromServer(t *testing.T) {
	r := startRuntime(t, nil, runtimeOptions{})
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"apps", "show", "--server", r.url, ""}, []string{"api", "web"}},
		{[]string{"apps", "rm", "--server", r.url, "w"}, []string{"web"}},
		{[]string{"pool", "scale", "--server", r.url, ""}, []string{"workers"}},
		{[]string{"events", "--server", r.url, "--app", ""}, []string{"api", "web"}},
		{[]string{"apps", "ls", "-o", ""}, []string{"table", "wide", "json", "yaml"}},
	} {
		out, err := cli(t, append([]string{"__complete"}, c.args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range strings.Split(out, "\n") {
			if l != "" && !strings.HasPrefix(l, ":") && !strings.HasPrefix(l, "Completion ended") {
				got = append(got, l)
			}
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v: got %q, want %q", c.args, got, c.want)
		}
	}
	// Machines: every machine the pools list, once the run has some.
	waitUntil(t, "a machine to complete", func() bool {
		out, _ := cli(t, "__complete", "pool", "cancel-drain", "--server", r.url, "")
		return strings.Contains(out, "workers")
	})
	// No server: no names, no error.
	out, err := cli(t, "__complete", "apps", "show", "--server", closedAddr(t), "")
	if err != nil || strings.Contains(out, "web") {
		t.Errorf("no server: %v %q", err, out)
	}
}

func TestPlural(t *testing.T) {
	for _, c := range []struct {
		n          int
		what, want string
	}{{0, "machine", "0 machines"}, {1, "machine", "1 machine"}, {2, "task", "2 tasks"}, {1, "task", "1 task"}, {3, "process", "3 processes"}} {
		if got := plural(c.n, c.what); got != c.want {
			t.Errorf("plural(%d, %q) = %q", c.n, c.what, got)
		}
	}
}
