package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/collector"
	"github.com/hoist/hoist/internal/swarm"
	"github.com/hoist/hoist/internal/throttle"
)

// newAgentCmd is `hoist agent`: the per-node metrics agent. The local
// provider starts one beside every machine's dockerd; on other machines the
// operator's create script starts it (examples/command/).
func newAgentCmd() *cobra.Command {
	var docker, listen, machine, credFile string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Serve this node's task CPU, memory, traffic and request metrics to hoist's collector",
		Long: `Serve, at GET /v1/stats, the cumulative CPU time, memory and (for containers
labelled hoist.metrics.port) Prometheus request counters of every swarm task
container of the Docker daemon at --docker. hoist's collector on the manager
scrapes every node's agent at the node's address, port 9101, presenting the
credential in --credential-file (hoist run keeps it in DATA/agent-credential);
requests without it are refused. The collector's POST /v1/stats also carries
the rate limits hoist wants on this node's tasks (docs/netguard.md): the agent
applies them inside each container's network namespace and removes the rest,
which needs root (CAP_NET_ADMIN and access to the containers' namespaces).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if credFile == "" {
				return errors.New("agent: --credential-file is required (hoist run keeps it in DATA/" + AgentCredentialFile + ")")
			}
			cred, err := readCredential(credFile)
			if err != nil {
				return fmt.Errorf("agent: %w", err)
			}
			cli, err := swarm.Dial(docker)
			if err != nil {
				return err
			}
			defer cli.Close()
			a := &collector.Agent{Docker: cli, Machine: machine, Credential: cred, Shaper: throttle.PIDShaper{}}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("agent: %w", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			fmt.Fprintf(cmd.ErrOrStderr(), "hoist agent: serving %s on %s\n", cli.DaemonHost(), ln.Addr())
			return serveAgent(ctx, ln, a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&docker, "docker", "", "Docker daemon to read (default: DOCKER_HOST or the local socket)")
	f.StringVar(&listen, "listen", ":9101", "address to serve on")
	f.StringVar(&machine, "machine", "", "machine name to report")
	f.StringVar(&credFile, "credential-file", os.Getenv("HOIST_AGENT_CREDENTIAL_FILE"), "file of the credential the collector presents (default $HOIST_AGENT_CREDENTIAL_FILE)")
	return cmd
}

// serveAgent serves a's report on ln until ctx ends.
func serveAgent(ctx context.Context, ln net.Listener, a *collector.Agent) error {
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}
