package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
)

// terminal prints a run's events and status line: redrawn in place on a
// terminal, a line at a time in a log, not at all with --quiet.
type terminal struct {
	w     io.Writer
	tty   bool
	quiet bool
	sub   <-chan events.Event
	unsub func()
}

func newTerminal(rt *Runtime) *terminal {
	sub, unsub := rt.Events.Subscribe(1024)
	return &terminal{w: rt.out, tty: isTerminal(rt.out) && !rt.opt.Quiet, quiet: rt.opt.Quiet, sub: sub, unsub: unsub}
}

func (t *terminal) close() { t.unsub() }

// events prints the events recorded since the last call.
func (t *terminal) events() {
	for {
		select {
		case e := <-t.sub:
			if t.tty {
				fmt.Fprint(t.w, "\r\033[K")
			}
			fmt.Fprintln(t.w, clean(e.String()))
		default:
			return
		}
	}
}

// status prints the status line.
func (t *terminal) status(line string) {
	switch {
	case t.tty:
		fmt.Fprintf(t.w, "\r\033[K%s", clean(line))
	case !t.quiet:
		fmt.Fprintln(t.w, clean(line))
	}
}

// end prints the last line of a run.
func (t *terminal) end(msg string) {
	if t.tty {
		fmt.Fprintln(t.w)
	}
	fmt.Fprintln(t.w, msg)
}

func describe(cfg *config.Config) string {
	var apps []string
	for _, a := range cfg.Apps {
		apps = append(apps, a.Name)
	}
	sort.Strings(apps)
	name := cfg.File
	if name == "" {
		name = "descriptor"
	}
	return clean(fmt.Sprintf("%s (apps %s; %s)", name, strings.Join(apps, ", "), plural(len(cfg.Pools), "pool")))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
