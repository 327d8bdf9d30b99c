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
)

func init() {
	extraCommands = append(extraCommands, newAgentCmd)
}

// newAgentCmd is `hoist agent`: the per-node metrics agent. The local
// provider starts one beside every machine's dockerd; on other machines the
// operator's create script starts it (examples/command/).
func newAgentCmd() *cobra.Command {
	var docker, listen, machine string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Serve this node's task CPU, memory and request metrics to hoist's collector",
		Long: `Serve, at GET /v1/stats, the cumulative CPU time, memory and (for containers
labelled hoist.metrics.port) Prometheus request counters of every swarm task
container of the Docker daemon at --docker. hoist's collector on the manager
scrapes every node's agent at the node's address, port 9101.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cli, err := swarm.Dial(docker)
			if err != nil {
				return err
			}
			defer cli.Close()
			a := &collector.Agent{Docker: cli, Machine: machine}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("agent: %w", err)
			}
			srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				srv.Shutdown(sctx)
			}()
			fmt.Fprintf(cmd.ErrOrStderr(), "hoist agent: serving %s on %s\n", cli.DaemonHost(), ln.Addr())
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("agent: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&docker, "docker", "", "Docker daemon to read (default: DOCKER_HOST or the local socket)")
	f.StringVar(&listen, "listen", ":9101", "address to serve on")
	f.StringVar(&machine, "machine", "", "machine name to report")
	return cmd
}
