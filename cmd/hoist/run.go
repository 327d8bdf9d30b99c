package main

import (
	"errors"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hoist/hoist/internal/lease"
	"github.com/hoist/hoist/internal/store"
)

// runFlags are `hoist run`'s flags.
type runFlags struct {
	config, listen, data, tokens string
	speed                        float64
	quiet                        bool
	tlsCert, tlsKey              string
	selfSigned, insecure         bool
	retention                    nonNegative
	maxAge                       time.Duration
	agentCredential              string
	allowedHosts                 []string
	ha                           haOptions
}

func (f *runFlags) register(fs *pflag.FlagSet, defaultListen string) {
	fs.StringVarP(&f.config, "config", "c", "", "descriptor (default: the built-in quickstart)")
	fs.Float64Var(&f.speed, "speed", 1, "simulated clock speed-up (simulated pools only)")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no status line, events only")
	fs.StringVar(&f.listen, "listen", "", "address for the API, dashboard and /metrics (e.g. 127.0.0.1:8080); on a simulated cluster "+
		defaultListen+" (or a free port if taken) unless given, --listen= for none")
	fs.StringVar(&f.data, "data", "", "directory for durable state (events, apps, machines)")
	fs.StringVar(&f.tokens, "tokens", "", "file of API tokens, one 'ROLE TOKEN' a line")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate (PEM) for --listen")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS private key (PEM) for --listen")
	fs.BoolVar(&f.selfSigned, "tls-self-signed", false, "serve TLS with a self-signed certificate kept in --data (automatic beyond loopback)")
	fs.BoolVar(&f.insecure, "insecure-allow-remote-plaintext", false, "allow --listen beyond loopback without TLS or tokens (INSECURE: anyone on the network controls hoist)")
	f.retention = 100_000
	fs.Var(&f.retention, "event-retention", "events kept under --data (0: no bound)")
	fs.DurationVar(&f.maxAge, "event-max-age", 720*time.Hour, "events older than this are dropped under --data (0: no bound)")
	fs.StringSliceVar(&f.allowedHosts, "allowed-host", nil, "a host name clients may reach --listen by, beyond IP addresses, localhost and this machine's name (repeatable; refuses DNS rebinding)")
	fs.BoolVar(&f.ha.Enabled, "ha", false, "take part in leader election with other hoist processes on the swarm's managers: only the leader acts (docs/ha.md)")
	fs.DurationVar(&f.ha.Lease, "ha-lease", lease.DefaultLease, "with --ha: a standby takes over when the leader has not renewed for this long")
	fs.DurationVar(&f.ha.Renew, "ha-renew", lease.DefaultRenew, "with --ha: how often the leader renews its lease (at most a third of --ha-lease)")
	fs.StringVar(&f.agentCredential, "agent-credential", "", "file of the credential the collector presents to agents (default: DATA/"+AgentCredentialFile+", made on first use)")
}

// options are the runtime's options from the flags; listenDefault is the
// listener of a simulated run whose --listen was not given.
func (f *runFlags) options(listenGiven bool, listenDefault string, sim bool) runtimeOptions {
	o := runtimeOptions{
		ConfigPath: f.config, Speed: f.speed, Quiet: f.quiet, Listen: f.listen, Data: f.data, Tokens: f.tokens,
		TLSCert: f.tlsCert, TLSKey: f.tlsKey, SelfSigned: f.selfSigned, InsecureListen: f.insecure,
		Retention:       store.Retention{MaxEvents: int(f.retention), MaxAge: f.maxAge},
		AgentCredential: f.agentCredential, AllowedHosts: f.allowedHosts, HA: f.ha,
	}
	if !listenGiven && sim {
		o.Listen, o.ListenFallback = listenDefault, true
	}
	return o
}

func newRunCmd(d cliDefaults) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the control loop (the built-in quickstart on a simulated cluster by default)",
		Long: `Run the control loop against the descriptor's pools. With no --config it runs
the built-in quickstart on a simulated cluster in real time; --speed runs the
simulated clock faster. The event stream and a status line go to the terminal;
Ctrl-C stops cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.speed <= 0 {
				return errors.New("--speed must be > 0")
			}
			cfg, err := loadConfig(f.config)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opt := f.options(cmd.Flags().Changed("listen"), d.listen, allSim(cfg))
			opt.Out = cmd.OutOrStdout()
			rt, err := newRuntime(ctx, cfg, opt)
			if err != nil {
				return err
			}
			defer rt.Close()
			return rt.Run(ctx)
		},
	}
	f.register(cmd.Flags(), d.listen)
	return cmd
}

// nonNegative is an int flag that refuses negative values.
type nonNegative int

func (n *nonNegative) String() string { return strconv.Itoa(int(*n)) }
func (n *nonNegative) Type() string   { return "int" }
func (n *nonNegative) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err == nil && v < 0 {
		err = errors.New("must be >= 0")
	}
	if err != nil {
		return err
	}
	*n = nonNegative(v)
	return nil
}
