package command

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/fuzzbudget"
)

// FuzzScriptOutput feeds the create and list parsers any output a script
// may print: they return machines that keep the contract or an ErrContract
// error of bounded length with no control characters (it goes into events
// and logs), within bounds of time and memory.
func FuzzScriptOutput(f *testing.F) {
	for _, seed := range []struct{ stdout, stderr, name string }{
		{`{"name":"w-1","status":"running","addr":"10.0.0.2","node_id":"n1"}`, "", "w-1"},
		{`{"name":"w-1","status":"creating"}`, "booting\nstill booting\n", "w-1"},
		{`[{"name":"w-1","status":"running"},{"name":"w-2","status":"failed","detail":"quota"}]`, "", "w-1"},
		{`[{"name":"w-1","status":"running"},{"name":"w-1","status":"running"}]`, "", "w-1"},
		{`[]`, "", "w-1"},
		{`{"name":"w-1","status":"up"}`, "", "w-1"},
		{`{"name":"x"}{"name":"y"}`, "", "x"},
		{"Machine created!\x1b[2J\n2026-01-01 00:00:00 pool.scale_up forged", "<html>\x00oops", "w-1"},
		{strings.Repeat("[", 10000), strings.Repeat("e", 100000), "w-1"},
		{`{"name":"` + strings.Repeat("\\u0000", 1000) + `","status":"running"}`, "", "w-1"},
	} {
		f.Add([]byte(seed.stdout), []byte(seed.stderr), seed.name)
	}
	f.Fuzz(func(t *testing.T, stdout, stderr []byte, name string) {
		r := result{stdout: stdout, stderr: stderr}
		var (
			mj         machineJSON
			ms         []machineJSON
			cerr, lerr error
		)
		fuzzbudget.Check(t, fuzzbudget.Budget{Fixed: 1 << 20, PerByte: 64, Time: 2 * time.Second},
			len(stdout)+len(stderr)+len(name), func() {
				mj, cerr = parseCreated(name, r)
				ms, lerr = parseList("workers", r)
			})
		valid := func(s string) bool {
			switch cluster.MachineStatus(s) {
			case cluster.MachineCreating, cluster.MachineRunning, cluster.MachineFailed:
				return true
			}
			return false
		}
		if cerr == nil && (mj.Name != name || !valid(mj.Status)) {
			t.Fatalf("create accepted %+v for %q", mj, name)
		}
		seen := map[string]bool{}
		for _, m := range ms {
			if lerr == nil && (m.Name == "" || seen[m.Name] || !valid(m.Status)) {
				t.Fatalf("list accepted %+v", ms)
			}
			seen[m.Name] = true
		}
		for _, err := range []error{cerr, lerr} {
			if err == nil {
				continue
			}
			if !errors.Is(err, ErrContract) {
				t.Fatalf("not a contract error: %v", err)
			}
			msg := strings.ReplaceAll(err.Error(), name, "")
			if len(msg) > 2000 {
				t.Fatalf("error of %d bytes: %.300s...", len(msg), msg)
			}
			for _, c := range msg {
				if unicode.IsControl(c) {
					t.Fatalf("control character %U in the error: %q", c, msg)
				}
			}
		}
	})
}
