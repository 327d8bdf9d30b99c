package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A data directory others may write to is refused before anything is read
// from it or written to it (issue 19 point 5): whoever can write there can
// swap the state, or a secret for a symlink.
func TestDataDirectoryMustBePrivate(t *testing.T) {
	data := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(data, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"plan"}, {"run", "--listen", "127.0.0.1:0"}} {
		out, err := cli(t, append(args, "--data", data)...)
		if err == nil || !strings.Contains(err.Error()+out, "writable by group or others") {
			t.Errorf("%s with a world-writable --data: err %v\n%s", args[0], err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "hoist.db")); !os.IsNotExist(err) {
		t.Errorf("a store was made in the refused directory: %v", err)
	}

	// A missing directory is made private; an existing private one is used.
	fresh := filepath.Join(t.TempDir(), "new")
	if out, err := cli(t, "plan", "--data", fresh); err != nil {
		t.Fatalf("plan with a new --data: %v\n%s", err, out)
	}
	st, err := os.Stat(fresh)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("new data directory: %v %v", st.Mode(), err)
	}
}
