package conformance

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/provider/command"
)

// Scripts keeping machines as directories under $STATE/m, as an operator's
// scripts keep them at their cloud. create commits (mkdir) before anything
// else; a fault file makes it exit 1 after the commit.
const (
	createSh = `set -eu
d="$STATE/m/$1"
if mkdir "$d" 2>/dev/null; then
	echo "$2" > "$d/pool"
	echo "$1" >> "$STATE/made"
	printf '#!/bin/sh\n# labels: "hoist.pool=%s" "hoist.machine=%s" /etc/docker/daemon.json\ndocker swarm join --token '"'%s' '%s'"'\n' \
		"$2" "$1" "$HOIST_SWARM_TOKEN" "$HOIST_SWARM_MANAGER" > "$d/boot"
	if [ -e "$STATE/fault" ]; then rm "$STATE/fault"; echo "cloud answered 500" >&2; exit 1; fi
fi
[ "$(cat "$d/pool")" = "$2" ] || { echo "$1 belongs to another pool" >&2; exit 1; }
printf '{"name": "%s", "status": "running", "id": "id-%s"}\n' "$1" "$1"
`
	destroySh = `set -eu
d="$STATE/m/$1"
if [ -d "$d" ] && [ "$(cat "$d/pool" 2>/dev/null)" = "$2" ]; then rm -rf "$d"; fi
`
	listSh = `set -eu
sep=""
printf '['
for d in "$STATE"/m/*/; do
	[ -d "$d" ] || continue
	[ "$(cat "$d/pool" 2>/dev/null)" = "$1" ] || continue
	n=$(basename "$d")
	printf '%s{"name": "%s", "status": "running", "id": "id-%s"}' "$sep" "$n" "$n"
	sep=", "
done
printf ']\n'
`
)

// commandSubject is the command provider running scripts that keep their
// machines in a state directory.
func commandSubject(t *testing.T) *subject {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.MkdirAll(filepath.Join(state, "m"), 0o755)
	for name, body := range map[string]string{"create.sh": createSh, "destroy.sh": destroySh, "list.sh": listSh} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &subject{
		newProvider: func(t *testing.T, pool string, log *slog.Logger) engine.Provider {
			p, err := command.New(command.Options{Pool: pool, Create: "sh " + filepath.Join(dir, "create.sh"),
				Destroy: "sh " + filepath.Join(dir, "destroy.sh"), List: "sh " + filepath.Join(dir, "list.sh"),
				Retries: 1, Backoff: 10 * time.Millisecond, Timeout: time.Minute, Logger: log,
				Env: []string{"STATE=" + state, "HOIST_SWARM_MANAGER=" + joinAddr, "HOIST_SWARM_TOKEN=" + joinToken}})
			if err != nil {
				t.Fatal(err)
			}
			return p
		},
		count: func(t *testing.T, name string) int {
			if _, err := os.Stat(filepath.Join(state, "m", name)); err == nil {
				return 1
			}
			return 0
		},
		made: func() int {
			b, _ := os.ReadFile(filepath.Join(state, "made"))
			return strings.Count(string(b), "\n")
		},
		commitThenFail: func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(state, "fault"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		joinScript: func(t *testing.T, name string) string {
			b, err := os.ReadFile(filepath.Join(state, "m", name, "boot"))
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		},
		addForeign: func(t *testing.T, name string) {
			os.MkdirAll(filepath.Join(state, "m", name), 0o755) // no pool: not hoist's
		},
	}
}
