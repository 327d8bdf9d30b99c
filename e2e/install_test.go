//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/prom/promtest"
	"github.com/moby/moby/client"
)

// TestInstallStack builds hoist's image (deploy/image: FROM scratch, the
// static binary) and deploys deploy/hoist-stack.yaml with `docker stack
// deploy` on the swarm, with deploy/hoist.yaml as its descriptor: hoist runs
// on the manager with the Docker socket, its data on a volume and its tokens
// from a Docker secret, and answers /v1/health over TLS.
func TestInstallStack(t *testing.T) {
	s := newStack(t)
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	const (
		stackName = "hoiste2e"
		image     = "hoist/hoist:e2e"
		version   = "v0.0.0-e2e"
	)

	build := exec.Command(filepath.Join(root, "deploy", "image"), image)
	// Without -trimpath, the build shares the cache of hoistBinary's.
	build.Env = append(os.Environ(), "VERSION="+version, "COMMIT=0123456789abcdef", "TRIMPATH=no")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("deploy/image: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "image", "rm", image).Run() })

	// The image is hoist and nothing else: it runs with no shell, stamped.
	out, err := exec.Command("docker", "run", "--rm", image, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("docker run %s version: %v", image, err)
	}
	var v struct{ Version, Commit string }
	if err := json.Unmarshal(out, &v); err != nil || v.Version != version || v.Commit != "0123456789abcdef" {
		t.Errorf("version in the image: %s (%v)", out, err)
	}
	if err := exec.Command("docker", "run", "--rm", "--entrypoint", "/bin/sh", image, "-c", "true").Run(); err == nil {
		t.Errorf("the image has a shell: it should be the static binary FROM scratch")
	}

	dir := t.TempDir()
	const adminTok = "install-admin-token-0123456789"
	tokens := writeFile(t, dir, "tokens", "admin "+adminTok+"\n")
	port := promtest.FreePort(t)
	deploy := exec.Command("docker", "stack", "deploy", "--resolve-image", "never", "-c", filepath.Join(root, "deploy", "hoist-stack.yaml"), stackName)
	deploy.Env = append(os.Environ(), "HOIST_IMAGE="+image, "HOIST_PORT="+strconv.Itoa(port),
		"HOIST_DESCRIPTOR="+filepath.Join(root, "deploy", "hoist.yaml"), "HOIST_TOKENS="+tokens)
	t.Cleanup(func() { removeStack(t, s, stackName) })
	if out, err := deploy.CombinedOutput(); err != nil {
		t.Fatalf("docker stack deploy: %v\n%s", err, out)
	}

	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		// hoist's own self-signed certificate, made in its volume.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	base := "https://127.0.0.1:" + strconv.Itoa(port)
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(body)
	}
	var last string
	waitFor(t, 2*time.Minute, "hoist's /v1/health in the stack", func() bool {
		code, body := get("/v1/health", "")
		last = body
		return code == http.StatusOK && strings.Contains(body, `"ok"`)
	})
	t.Logf("/v1/health: %s", strings.TrimSpace(last))
	// Its tokens are the secret's: refused without, served with.
	if code, body := get("/v1/pools", ""); code != http.StatusUnauthorized {
		t.Errorf("/v1/pools without a token: %d %s", code, body)
	}
	code, body := get("/v1/pools", adminTok)
	var pools struct {
		Pools []struct {
			Name string `json:"name"`
		} `json:"pools"`
	}
	if err := json.Unmarshal([]byte(body), &pools); code != http.StatusOK || err != nil || len(pools.Pools) != 1 || pools.Pools[0].Name != "workers" {
		t.Errorf("/v1/pools with the secret's token: %d %v %s", code, err, body)
	}
	// Its data is on the volume: the self-signed certificate it serves.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	vol, err := s.cli.VolumeInspect(ctx, stackName+"_hoist-data", client.VolumeInspectOptions{})
	if err != nil {
		t.Fatalf("volume: %v", err)
	}
	if _, err := os.Stat(filepath.Join(vol.Volume.Mountpoint, "tls", "cert.pem")); err != nil {
		t.Errorf("no certificate on the volume: %v", err)
	}
}

// removeStack removes a stack and, once its container is gone, its volume.
func removeStack(t *testing.T, s *stack, name string) {
	if out, err := exec.Command("docker", "stack", "rm", name).CombinedOutput(); err != nil {
		t.Logf("docker stack rm: %v\n%s", err, out)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if exec.Command("docker", "volume", "rm", name+"_hoist-data").Run() == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Errorf("volume %s_hoist-data still there a minute after docker stack rm", name)
}
