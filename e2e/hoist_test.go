//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hoistProc is `hoist run` as a real process.
type hoistProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

func startHoist(t *testing.T, descriptor, data string) *hoistProc {
	t.Helper()
	args := []string{"run", "--config", descriptor}
	if data != "" {
		args = append(args, "--data", data)
	}
	return startHoistArgs(t, args...)
}

// startHoistArgs runs hoist with these arguments.
func startHoistArgs(t *testing.T, args ...string) *hoistProc {
	t.Helper()
	bin, err := hoistBinary()
	if err != nil {
		t.Fatal(err)
	}
	h := &hoistProc{out: &syncBuffer{}, done: make(chan struct{})}
	h.cmd = exec.Command(bin, args...)
	h.cmd.Stdout, h.cmd.Stderr = h.out, h.out
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.err = h.cmd.Wait(); close(h.done) }()
	t.Cleanup(func() {
		h.kill()
		if t.Failed() {
			out := h.out.String()
			if len(out) > 6000 {
				out = "..." + out[len(out)-6000:]
			}
			t.Logf("output of hoist %s:\n%s", strings.Join(args, " "), out)
		}
	})
	return h
}

// stop interrupts hoist (Ctrl-C) and waits for it to exit.
func (h *hoistProc) stop(t *testing.T) {
	t.Helper()
	select {
	case <-h.done:
		return
	default:
	}
	h.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-h.done:
	case <-time.After(40 * time.Second):
		h.kill()
		t.Errorf("hoist did not stop within 40s of Ctrl-C; output:\n%s", h.out)
	}
}

// kill ends hoist at once, as a crash would.
func (h *hoistProc) kill() {
	select {
	case <-h.done:
		return
	default:
	}
	h.cmd.Process.Kill()
	<-h.done
}

var eventLine = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+\.\S+ `)

// events returns hoist's event lines (status lines left out).
func (h *hoistProc) events() []string {
	var out []string
	for _, l := range strings.Split(h.out.String(), "\n") {
		l = strings.TrimPrefix(l, "\r\033[K")
		if eventLine.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// count returns how many event lines have kind and contain text.
func (h *hoistProc) count(kind, text string) int {
	n := 0
	for _, e := range h.events() {
		f := strings.Fields(e)
		if len(f) > 2 && f[2] == kind && strings.Contains(e, text) {
			n++
		}
	}
	return n
}

func (h *hoistProc) waitEvent(t *testing.T, d time.Duration, kind, text string) {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("event %s %q; events so far:\n%s", kind, text, strings.Join(h.events(), "\n")), func() bool {
		return h.count(kind, text) > 0
	})
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// removeService removes a service and waits until its tasks are gone.
func (s *stack) removeService(t *testing.T, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.cli.ServiceRemove(ctx, name, client.ServiceRemoveOptions{})
}

func (s *stack) removeNetwork(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if _, err := s.cli.NetworkRemove(ctx, name, client.NetworkRemoveOptions{}); err == nil || strings.Contains(err.Error(), "not found") {
			return
		}
		time.Sleep(time.Second) // tasks still detaching
	}
}

// startLoad runs demoapp's load generator as a service on the manager,
// attached to the app's overlay network, spreading over tasks.APP.
func (s *stack) startLoad(t *testing.T, app string, concurrency int) {
	t.Helper()
	s.startLoadArgs(t, app, "--concurrency", fmt.Sprint(concurrency))
}

// startLoadArgs is startLoad with the generator's own flags (e.g. "--rate",
// "60": an open loop at a fixed rate).
func (s *stack) startLoadArgs(t *testing.T, app string, flags ...string) {
	t.Helper()
	n := uint64(1)
	args := append([]string{"load", "--target", "tasks." + app + ":8080", "--report", "10s"}, flags...)
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: app + "-load"},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: "hoist/demoapp:latest", Args: args},
			Placement:     &swarm.Placement{Constraints: []string{"node.role==manager"}},
			Networks:      []swarm.NetworkAttachmentConfig{{Target: "hoist-" + app}},
		},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.cli.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.removeService(t, app+"-load") })
}
