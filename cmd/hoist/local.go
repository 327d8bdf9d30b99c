package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/provider/local"
	"github.com/hoist/hoist/internal/swarm"
)

// newLocalCmd is `hoist local create|destroy|list`: the local provider's
// machines by hand, speaking the command provider's JSON contract, so the
// scripts in examples/command/ can wrap it.
func newLocalCmd() *cobra.Command {
	var opt local.Options
	var timeout time.Duration
	root := &cobra.Command{
		Use:   "local",
		Short: "Create, destroy and list local machines (network namespaces with their own dockerd)",
		Long: `Machines of the local provider by hand. Output follows the command provider's
contract (docs/swarm.md): create prints one JSON machine object, list a JSON
array of them; destroy prints nothing. Needs root and a swarm manager on the
Docker daemon of DOCKER_HOST (scripts/localstack up).`,
	}
	provider := func(cmd *cobra.Command) (*local.Provider, context.Context, func(), error) {
		cli, err := swarm.Dial("")
		if err != nil {
			return nil, nil, nil, err
		}
		opt.Manager = swarm.New(cli, swarm.Options{})
		if opt.Agent == "" {
			opt.Agent, _ = os.Executable()
		}
		p, err := local.New(opt)
		if err != nil {
			cli.Close()
			return nil, nil, nil, err
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
		return p, ctx, func() { cancel(); p.Close(); cli.Close() }, nil
	}
	out := func(cmd *cobra.Command, v any) error {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(v)
	}
	create := &cobra.Command{
		Use: "create NAME", Short: "Create (or finish creating) a machine", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opt.AgentCredentialFile == "" {
				// The machine's agent answers only hoist's collector.
				return errors.New("give --agent-credential-file (hoist run passes HOIST_AGENT_CREDENTIAL_FILE to its create scripts)")
			}
			p, ctx, done, err := provider(cmd)
			if err != nil {
				return err
			}
			defer done()
			m, err := p.Create(ctx, args[0])
			if err != nil {
				return err
			}
			return out(cmd, map[string]string{"name": m.Name, "status": string(m.Status), "id": m.ID, "addr": m.Addr, "detail": m.Detail})
		},
	}
	destroy := &cobra.Command{
		Use: "destroy NAME", Short: "Destroy a machine completely (missing is not an error)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, ctx, done, err := provider(cmd)
			if err != nil {
				return err
			}
			defer done()
			return p.Destroy(ctx, args[0])
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List the pool's machines", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, ctx, done, err := provider(cmd)
			if err != nil {
				return err
			}
			defer done()
			ms, err := p.List(ctx)
			if err != nil {
				return err
			}
			type row struct {
				Name   string `json:"name"`
				Status string `json:"status"`
				ID     string `json:"id,omitempty"`
				Addr   string `json:"addr,omitempty"`
				Detail string `json:"detail,omitempty"`
			}
			rows := []row{}
			for _, m := range ms {
				rows = append(rows, row{m.Name, string(m.Status), m.ID, m.Addr, m.Detail})
			}
			return out(cmd, rows)
		},
	}
	f := root.PersistentFlags()
	f.StringVar(&opt.Pool, "pool", "", "pool of the machine (required)")
	f.Float64Var(&opt.CPUs, "cpus", 1, "CPUs of the machine (its dockerd is pinned to that many host CPUs)")
	f.StringVar(&opt.Prefix, "prefix", local.DefaultPrefix, "name prefix of namespaces and state directories")
	f.StringVar(&opt.Subnet, "subnet", local.DefaultSubnet, "subnet of machine addresses; its first address is the host's bridge")
	f.StringVar(&opt.Agent, "agent", "", "hoist binary to run `hoist agent` with beside the machine (default: this one)")
	f.StringVar(&opt.AgentCredentialFile, "agent-credential-file", os.Getenv("HOIST_AGENT_CREDENTIAL_FILE"), "credential file the agent checks (default $HOIST_AGENT_CREDENTIAL_FILE, set by hoist for command providers)")
	f.DurationVar(&timeout, "timeout", 3*time.Minute, "give up after this long")
	root.MarkPersistentFlagRequired("pool")
	root.AddCommand(create, destroy, list)
	return root
}
