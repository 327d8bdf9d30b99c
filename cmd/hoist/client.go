package main

// CLI verbs that talk to a running hoist over its /v1 API.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/events"
)

// clientOptions are the flags every API verb takes.
type clientOptions struct {
	server, token, tokenFile, ca string
	insecure                     bool
	output                       string
	timeout                      time.Duration
}

func addClientFlags(cmd *cobra.Command, o *clientOptions) {
	f := cmd.PersistentFlags()
	f.StringVar(&o.server, "server", "", "hoist API address (default $HOIST_SERVER, else http://127.0.0.1:8080)")
	f.StringVar(&o.token, "token", "", "API token (default $HOIST_TOKEN; prefer the variable or --token-file: arguments are visible to other users)")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding the API token")
	f.StringVar(&o.ca, "ca", "", "PEM certificate to trust (hoist's self-signed DATA/tls/cert.pem)")
	f.BoolVar(&o.insecure, "insecure-skip-verify", false, "do not verify the server's certificate (INSECURE)")
	f.StringVarP(&o.output, "output", "o", "table", "output: table or json")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "request timeout")
}

// apiClient calls the API.
type apiClient struct {
	base, token string
	hc          *http.Client
	output      string
}

// errOutput is returned for an --output other than table or json.
var errOutput = errors.New("--output must be table or json")

func (o *clientOptions) client() (*apiClient, error) {
	if o.output != "table" && o.output != "json" {
		return nil, errOutput
	}
	server := o.server
	if server == "" {
		server = os.Getenv("HOIST_SERVER")
	}
	if server == "" {
		server = "http://127.0.0.1:8080"
	}
	if !strings.Contains(server, "://") {
		scheme := "http://"
		if o.ca != "" || o.insecure {
			scheme = "https://"
		}
		server = scheme + server
	}
	token := o.token
	if o.tokenFile != "" {
		data, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		token = strings.TrimSpace(string(data))
	}
	if token == "" {
		token = os.Getenv("HOIST_TOKEN")
	}
	tlsCfg, err := auth.ClientTLS(o.ca, o.insecure)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	return &apiClient{base: strings.TrimSuffix(server, "/"), token: token, output: o.output,
		hc: &http.Client{Transport: tr, Timeout: o.timeout}}, nil
}

// apiError is an error answered by the server.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (e *apiError) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	return fmt.Sprintf("%s (%s, HTTP %d)", msg, e.Code, e.Status)
}

func (c *apiClient) request(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// call sends a request and returns the raw JSON answer.
func (c *apiClient) call(ctx context.Context, method, path string, body any) ([]byte, error) {
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		var eb struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(data, &eb) != nil || eb.Error.Message == "" {
			return nil, &apiError{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(data))}
		}
		eb.Error.Status = resp.StatusCode
		return nil, &eb.Error
	}
	return data, nil
}

// show prints the answer as indented JSON (--output json) or with table.
// showAppChange prints the API's answer to a deploy or a policy change: the
// app and the warnings that came with it.
func (c *apiClient) showAppChange(w io.Writer, data []byte, what string) error {
	var v struct {
		App      appRow
		Warnings []string
	}
	return c.show(w, data, &v, func(tw *tabwriter.Writer) error {
		fmt.Fprintf(tw, "app %s%s\n", v.App.Name, what)
		for _, x := range v.Warnings {
			fmt.Fprintf(tw, "warning: %s\n", x)
		}
		return nil
	})
}

func (c *apiClient) show(w io.Writer, data []byte, v any, table func(tw *tabwriter.Writer) error) error {
	if c.output == "json" {
		var buf bytes.Buffer
		if err := json.Indent(&buf, data, "", "  "); err != nil {
			return err
		}
		buf.WriteByte('\n')
		_, err := w.Write(buf.Bytes())
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if err := table(tw); err != nil {
		return err
	}
	return tw.Flush()
}

// readSpec reads a YAML or JSON file (- for stdin) into a JSON-ready value.
func readSpec(path string) (map[string]any, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%s: empty", path)
	}
	return m, nil
}

// ---- apps

type appRow struct {
	Name       string `json:"name"`
	Source     string `json:"source"`
	Overridden bool   `json:"overridden"`
	Image      string `json:"image"`
	Replicas   *struct {
		Desired, Running, Starting, Pending int
		Why                                 []string `json:"pending_reasons"`
	} `json:"replicas"`
	Decision *struct {
		Action, Reason string
		Min, Max       int
	} `json:"decision"`
	Spec    map[string]any `json:"spec"`
	Metrics []struct {
		Policy       int
		Type, Metric string
		Query, Error string
		Value        float64
		OK           bool
	} `json:"metrics"`
	Events []events.Event `json:"events"`
}

func newAppsCmd() *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{Use: "apps", Short: "List, show, deploy, re-policy and delete apps on a running hoist"}
	addClientFlags(cmd, o)

	ls := &cobra.Command{Use: "ls", Short: "List apps", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		data, err := c.call(cmd.Context(), "GET", "/v1/apps", nil)
		if err != nil {
			return err
		}
		var v struct{ Apps []appRow }
		return c.show(cmd.OutOrStdout(), data, &v, func(tw *tabwriter.Writer) error {
			fmt.Fprintln(tw, "NAME\tSOURCE\tIMAGE\tDESIRED\tRUNNING\tPENDING\tBOUNDS\tLAST DECISION")
			for _, a := range v.Apps {
				src := a.Source
				if a.Overridden {
					src += "*"
				}
				d, r, p, bounds, why := "-", "-", "-", "-", "-"
				if a.Replicas != nil {
					d, r, p = strconv.Itoa(a.Replicas.Desired), strconv.Itoa(a.Replicas.Running), strconv.Itoa(a.Replicas.Pending)
				}
				if a.Decision != nil {
					bounds = fmt.Sprintf("%d..%d", a.Decision.Min, a.Decision.Max)
					why = a.Decision.Action + ": " + a.Decision.Reason
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, src, a.Image, d, r, p, bounds, why)
			}
			return nil
		})
	}}

	show := &cobra.Command{Use: "show NAME", Short: "Show an app: replicas, metrics, policy, last decision, recent events", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			data, err := c.call(cmd.Context(), "GET", "/v1/apps/"+url.PathEscape(args[0]), nil)
			if err != nil {
				return err
			}
			var a appRow
			return c.show(cmd.OutOrStdout(), data, &a, func(tw *tabwriter.Writer) error {
				fmt.Fprintf(tw, "name:\t%s (%s%s)\n", a.Name, a.Source, map[bool]string{true: ", policy overridden"}[a.Overridden])
				fmt.Fprintf(tw, "image:\t%s\n", a.Image)
				if a.Replicas != nil {
					fmt.Fprintf(tw, "replicas:\t%d desired, %d running, %d starting, %d pending\n", a.Replicas.Desired, a.Replicas.Running, a.Replicas.Starting, a.Replicas.Pending)
					for _, w := range a.Replicas.Why {
						fmt.Fprintf(tw, "  pending:\t%s\n", w)
					}
				}
				if a.Decision != nil {
					fmt.Fprintf(tw, "decision:\t%s (bounds %d..%d): %s\n", a.Decision.Action, a.Decision.Min, a.Decision.Max, a.Decision.Reason)
				}
				for _, m := range a.Metrics {
					val := strconv.FormatFloat(m.Value, 'f', 2, 64)
					if !m.OK {
						val = "no data: " + m.Error
					}
					fmt.Fprintf(tw, "policies[%d]:\t%s %s%s = %s\n", m.Policy, m.Type, m.Metric, m.Query, val)
				}
				if pol, err := yaml.Marshal(map[string]any{"replicas": a.Spec["replicas"], "cooldown": a.Spec["cooldown"], "policies": a.Spec["policies"]}); err == nil {
					fmt.Fprintf(tw, "policy:\n%s", indent(string(pol), "  "))
				}
				if len(a.Events) > 0 {
					fmt.Fprintln(tw, "events:")
					for _, e := range a.Events {
						fmt.Fprintf(tw, "  %s\n", e.String())
					}
				}
				return nil
			})
		}}

	var file string
	var d deployFlags
	deploy := &cobra.Command{Use: "deploy [-f FILE | --name N --image I --pool P ...]", Short: "Deploy an app (what docker service create takes, plus its scaling policy)",
		Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			var spec map[string]any
			if file != "" {
				if spec, err = readSpec(file); err != nil {
					return err
				}
			} else {
				spec = d.spec()
			}
			data, err := c.call(cmd.Context(), "POST", "/v1/apps", spec)
			if err != nil {
				return err
			}
			return c.showAppChange(cmd.OutOrStdout(), data, " registered; the next tick deploys it")
		}}
	deploy.Flags().StringVarP(&file, "file", "f", "", "app spec, YAML or JSON as in the descriptor's apps (- for stdin)")
	d.add(deploy)

	var pfile string
	var minR, maxR int
	setPolicy := &cobra.Command{Use: "set-policy NAME [-f FILE] [--min N] [--max N]", Short: "Change an app's replicas, cooldown and policies",
		Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			patch := map[string]any{}
			if pfile != "" {
				if patch, err = readSpec(pfile); err != nil {
					return err
				}
			}
			if minR > 0 || maxR > 0 {
				// The API replaces replicas whole: keep the bound not given.
				data, err := c.call(cmd.Context(), "GET", "/v1/apps/"+url.PathEscape(args[0]), nil)
				if err != nil {
					return err
				}
				var a appRow
				if err := json.Unmarshal(data, &a); err != nil {
					return err
				}
				rep, _ := a.Spec["replicas"].(map[string]any)
				if rep == nil {
					rep = map[string]any{}
				}
				if minR > 0 {
					rep["min"] = minR
				}
				if maxR > 0 {
					rep["max"] = maxR
				}
				patch["replicas"] = rep
			}
			if len(patch) == 0 {
				return errors.New("nothing to change: give -f FILE, --min or --max")
			}
			data, err := c.call(cmd.Context(), "PUT", "/v1/apps/"+url.PathEscape(args[0])+"/policy", patch)
			if err != nil {
				return err
			}
			return c.showAppChange(cmd.OutOrStdout(), data, ": policy set")
		}}
	setPolicy.Flags().StringVarP(&pfile, "file", "f", "", "policy update, YAML or JSON: replicas, cooldown and/or policies (- for stdin)")
	setPolicy.Flags().IntVar(&minR, "min", 0, "minimum replicas")
	setPolicy.Flags().IntVar(&maxR, "max", 0, "maximum replicas")

	simple := func(use, short, method, suffix, done string) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			data, err := c.call(cmd.Context(), method, "/v1/apps/"+url.PathEscape(args[0])+suffix, nil)
			if err != nil {
				return err
			}
			var v struct{ Warnings []string }
			return c.show(cmd.OutOrStdout(), data, &v, func(tw *tabwriter.Writer) error {
				fmt.Fprintf(tw, "app %s: %s\n", args[0], done)
				for _, w := range v.Warnings {
					fmt.Fprintf(tw, "warning: %s\n", w)
				}
				return nil
			})
		}}
	}
	rm := simple("rm NAME", "Delete an app registered through the API (its service and rules too)", "DELETE", "", "deleted")
	reset := simple("reset-policy NAME", "Drop a descriptor app's policy override", "DELETE", "/policy", "back to the descriptor's policy")
	cmd.AddCommand(ls, show, deploy, setPolicy, rm, reset)
	return cmd
}

// deployFlags build an app from `docker service create`-like flags.
type deployFlags struct {
	name, image          string
	pools, env           []string
	limitCPU, reserveCPU float64
	limitMem, reserveMem string
	minR, maxR, port     int
	targetCPU            float64
}

func (d *deployFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&d.name, "name", "", "app (service) name")
	f.StringVar(&d.image, "image", "", "image")
	f.StringSliceVar(&d.pools, "pool", nil, "pools it may run on (repeatable)")
	f.Float64Var(&d.limitCPU, "limit-cpu", 0, "CPU limit per task")
	f.StringVar(&d.limitMem, "limit-memory", "", "memory limit per task (512MiB)")
	f.Float64Var(&d.reserveCPU, "reserve-cpu", 0, "CPU reserved per task")
	f.StringVar(&d.reserveMem, "reserve-memory", "", "memory reserved per task")
	f.IntVar(&d.minR, "replicas-min", 1, "minimum replicas")
	f.IntVar(&d.maxR, "replicas-max", 0, "maximum replicas (default: the minimum)")
	f.StringSliceVar(&d.env, "env", nil, "environment VAR=value (repeatable)")
	f.IntVar(&d.port, "port", 0, "port the app serves on")
	f.Float64Var(&d.targetCPU, "target-cpu", 0, "add a target-tracking policy on CPU % (e.g. 60)")
}

func (d *deployFlags) spec() map[string]any {
	shape := func(cpu float64, mem string) map[string]any {
		m := map[string]any{}
		if cpu > 0 {
			m["cpus"] = cpu
		}
		if mem != "" {
			m["memory"] = mem
		}
		return m
	}
	s := map[string]any{"name": d.name, "image": d.image, "pools": d.pools,
		"resources": map[string]any{"limits": shape(d.limitCPU, d.limitMem), "reservations": shape(d.reserveCPU, d.reserveMem)},
		"replicas":  map[string]any{"min": d.minR, "max": d.maxR}}
	if len(d.env) > 0 {
		s["env"] = d.env
	}
	if d.port > 0 {
		s["port"] = d.port
	}
	if d.targetCPU > 0 {
		s["policies"] = []any{map[string]any{"type": "target", "metric": "cpu", "target": d.targetCPU}}
	}
	return s
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

// ---- pools

type poolRow struct {
	Name, Provider string
	Min, Max       int
	Active         int
	Phases         map[string]int
	Decision       *struct{ Action, Reason string }
	Machines       []struct {
		Name, Phase string
		NodeID      string `json:"node_id"`
		Since       time.Time
		Cancel      bool
		LastErr     string `json:"last_error"`
		History     []struct {
			Phase  string
			Time   time.Time
			Reason string
		}
		Node *struct {
			Ready        bool
			Availability string
			Tasks        int
			Capacity     struct {
				MilliCPU int64 `json:"milli_cpu"`
			}
			Reserved struct {
				MilliCPU int64 `json:"milli_cpu"`
			}
		}
	}
}

func newPoolCmd() *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{Use: "pool", Aliases: []string{"pools"}, Short: "List, show and scale pools of machines on a running hoist"}
	addClientFlags(cmd, o)
	ls := &cobra.Command{Use: "ls", Short: "List pools", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		data, err := c.call(cmd.Context(), "GET", "/v1/pools", nil)
		if err != nil {
			return err
		}
		var v struct{ Pools []poolRow }
		return c.show(cmd.OutOrStdout(), data, &v, func(tw *tabwriter.Writer) error {
			fmt.Fprintln(tw, "NAME\tPROVIDER\tACTIVE\tBOUNDS\tPHASES\tLAST DECISION")
			for _, p := range v.Pools {
				why := "-"
				if p.Decision != nil {
					why = p.Decision.Action + ": " + p.Decision.Reason
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d..%d\t%s\t%s\n", p.Name, p.Provider, p.Active, p.Min, p.Max, phases(p.Phases), why)
			}
			return nil
		})
	}}
	var history, destroyed bool
	show := &cobra.Command{Use: "show NAME", Short: "Show a pool's machines and their lifecycle", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		path := "/v1/pools/" + url.PathEscape(args[0])
		if destroyed {
			path += "?include_destroyed=true"
		}
		data, err := c.call(cmd.Context(), "GET", path, nil)
		if err != nil {
			return err
		}
		var p poolRow
		return c.show(cmd.OutOrStdout(), data, &p, func(tw *tabwriter.Writer) error {
			fmt.Fprintf(tw, "pool %s (%s): %d active, bounds %d..%d, %s\n", p.Name, p.Provider, p.Active, p.Min, p.Max, phases(p.Phases))
			if p.Decision != nil {
				fmt.Fprintf(tw, "decision: %s: %s\n", p.Decision.Action, p.Decision.Reason)
			}
			fmt.Fprintln(tw, "MACHINE\tPHASE\tSINCE\tNODE\tAVAILABILITY\tTASKS\tRESERVED CPU\tNOTE")
			for _, m := range p.Machines {
				node, avail, tasks, res := "-", "-", "-", "-"
				if m.Node != nil {
					node, avail, tasks = m.NodeID, m.Node.Availability, strconv.Itoa(m.Node.Tasks)
					if m.Node.Capacity.MilliCPU > 0 {
						res = fmt.Sprintf("%.0f%%", 100*float64(m.Node.Reserved.MilliCPU)/float64(m.Node.Capacity.MilliCPU))
					}
				}
				note := m.LastErr
				if m.Cancel {
					note = "drain cancelled"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Phase, m.Since.UTC().Format("2006-01-02 15:04:05"), node, avail, tasks, res, note)
				if history {
					for _, h := range m.History {
						// In the last column, so the table keeps its alignment.
						fmt.Fprintf(tw, "\t\t\t\t\t\t\t  %s %s: %s\n", h.Time.UTC().Format("2006-01-02 15:04:05"), h.Phase, h.Reason)
					}
				}
			}
			return nil
		})
	}}
	show.Flags().BoolVar(&history, "history", false, "print each machine's phase history")
	show.Flags().BoolVar(&destroyed, "destroyed", false, "include destroyed machines")

	scale := &cobra.Command{Use: "scale NAME +N|-N|=N", Short: "Add (+2), remove (-1) or set (=5) machines; clamped to the pool's bounds",
		Long: "Flags go before NAME (hoist pool scale --server X workers -1), so that -1 is not read as a flag.",
		Args: cobra.ExactArgs(2), RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			path, body, err := scalePath(args[0], args[1])
			if err != nil {
				return err
			}
			data, err := c.call(cmd.Context(), "POST", path, body)
			if err != nil {
				return err
			}
			var v struct {
				Pool                        string
				Requested, Target, Min, Max int
				Clamped                     bool
			}
			return c.show(cmd.OutOrStdout(), data, &v, func(tw *tabwriter.Writer) error {
				fmt.Fprintf(tw, "pool %s: target %d machines", v.Pool, v.Target)
				if v.Clamped {
					fmt.Fprintf(tw, " (asked %d, clamped to %d..%d)", v.Requested, v.Min, v.Max)
				}
				fmt.Fprintln(tw)
				return nil
			})
		}}
	scale.Flags().SetInterspersed(false)
	cancel := &cobra.Command{Use: "cancel-drain MACHINE", Short: "Return a selected or draining machine to service", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			data, err := c.call(cmd.Context(), "POST", "/v1/machines/"+url.PathEscape(args[0])+"/cancel-drain", nil)
			if err != nil {
				return err
			}
			var v struct{ Message string }
			return c.show(cmd.OutOrStdout(), data, &v, func(tw *tabwriter.Writer) error {
				fmt.Fprintf(tw, "machine %s: %s\n", args[0], v.Message)
				return nil
			})
		}}
	cmd.AddCommand(ls, show, scale, cancel)
	return cmd
}

// errScaleArg is returned for a scale amount that is not +N, -N or =N.
var errScaleArg = errors.New("amount must be +N (add), -N (remove) or =N (set)")

func scalePath(pool, amount string) (string, any, error) {
	if len(amount) < 2 {
		return "", nil, errScaleArg
	}
	n, err := strconv.Atoi(amount[1:])
	if err != nil || n < 0 || (n == 0 && amount[0] != '=') {
		return "", nil, errScaleArg
	}
	base := "/v1/pools/" + url.PathEscape(pool)
	switch amount[0] {
	case '+':
		return base + "/scaleup", map[string]int{"count": n}, nil
	case '-':
		return base + "/scaledown", map[string]int{"count": n}, nil
	case '=':
		return base + "/scaleto/" + strconv.Itoa(n), nil, nil
	}
	return "", nil, errScaleArg
}

func phases(m map[string]int) string {
	order := []string{"ordered", "booting", "ready", "selected", "draining", "drained", "removed", "failed", "destroyed"}
	var parts []string
	for _, p := range order {
		if m[p] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[p], p))
		}
	}
	if len(parts) == 0 {
		return "no machines"
	}
	return strings.Join(parts, ", ")
}

// ---- events

func newEventsCmd() *cobra.Command {
	o := &clientOptions{}
	var follow bool
	var app, pool, machine, since string
	var kinds []string
	var limit int
	cmd := &cobra.Command{Use: "events", Short: "Print the decision log of a running hoist (-f follows it live)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"app": app, "pool": pool, "machine": machine, "since": since} {
				if v != "" {
					q.Set(k, v)
				}
			}
			for _, k := range kinds {
				q.Add("kind", k)
			}
			page := url.Values{}
			for k, v := range q {
				page[k] = v
			}
			page.Set("limit", strconv.Itoa(limit))
			data, err := c.call(cmd.Context(), "GET", "/v1/events?"+page.Encode(), nil)
			if err != nil {
				return err
			}
			var v struct {
				Events  []events.Event
				LastSeq uint64 `json:"last_seq"`
			}
			w := cmd.OutOrStdout()
			if !follow || c.output != "json" {
				if err := c.show(w, data, &v, func(tw *tabwriter.Writer) error {
					for _, e := range v.Events {
						fmt.Fprintln(tw, e.String())
					}
					return nil
				}); err != nil {
					return err
				}
			}
			if !follow {
				return nil
			}
			if c.output == "json" {
				_ = json.Unmarshal(data, &v)
				for _, e := range v.Events {
					if err := printEvent(w, e, true); err != nil {
						return err
					}
				}
			}
			return c.follow(cmd.Context(), w, q, v.LastSeq)
		}}
	addClientFlags(cmd, o)
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new events")
	f.StringVar(&app, "app", "", "only this app")
	f.StringVar(&pool, "pool", "", "only this pool")
	f.StringVar(&machine, "machine", "", "only this machine")
	f.StringSliceVar(&kinds, "kind", nil, "only these kinds (app.scale, or a subject such as machine)")
	f.StringVar(&since, "since", "", "only since (RFC 3339, or a duration back: 1h)")
	f.IntVarP(&limit, "limit", "n", 50, "how many past events to print first")
	return cmd
}

func printEvent(w io.Writer, e events.Event, asJSON bool) error {
	if asJSON {
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	}
	_, err := fmt.Fprintln(w, e.String())
	return err
}

// follow streams events after seq until ctx ends, reconnecting (from the
// last event seen) when the connection drops.
func (c *apiClient) follow(ctx context.Context, w io.Writer, q url.Values, seq uint64) error {
	stream := &http.Client{Transport: c.hc.Transport} // no timeout: a stream lasts
	backoff := time.Second
	for {
		q.Set("after", strconv.FormatUint(seq, 10))
		req, err := c.request(ctx, "GET", "/v1/events/stream?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "text/event-stream")
		resp, err := stream.Do(req)
		if err == nil && resp.StatusCode != http.StatusOK {
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			var eb struct {
				Error apiError `json:"error"`
			}
			if json.Unmarshal(data, &eb) == nil && eb.Error.Message != "" && resp.StatusCode < 500 {
				eb.Error.Status = resp.StatusCode
				return &eb.Error // a refusal, not an outage: retrying will not help
			}
			err = fmt.Errorf("stream: HTTP %d", resp.StatusCode)
		}
		if err == nil {
			backoff = time.Second
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 4<<20)
			for sc.Scan() {
				line := sc.Text()
				if !strings.HasPrefix(line, "data: ") {
					continue
				}
				var e events.Event
				if json.Unmarshal([]byte(line[6:]), &e) != nil {
					continue
				}
				seq = max(seq, e.Seq)
				if err := printEvent(w, e, c.output == "json"); err != nil {
					resp.Body.Close()
					return err
				}
			}
			resp.Body.Close()
		}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// ---- reload

func newReloadCmd() *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{Use: "reload", Short: "Make a running hoist re-read its descriptor and tokens (admin)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			data, err := c.call(cmd.Context(), "POST", "/v1/reload", nil)
			if err != nil {
				return err
			}
			var v struct {
				File     string   `json:"file"`
				Added    []string `json:"apps_added"`
				Removed  []string `json:"apps_removed"`
				Changed  []string `json:"apps_changed"`
				Warnings []string `json:"warnings"`
			}
			return c.show(cmd.OutOrStdout(), data, &v, func(tw *tabwriter.Writer) error {
				fmt.Fprintf(tw, "reloaded %s\n", v.File)
				for _, p := range []struct {
					k string
					v []string
				}{{"added", v.Added}, {"removed", v.Removed}, {"changed", v.Changed}} {
					if len(p.v) > 0 {
						fmt.Fprintf(tw, "apps %s:\t%s\n", p.k, strings.Join(p.v, ", "))
					}
				}
				for _, w := range v.Warnings {
					fmt.Fprintf(tw, "warning: %s\n", w)
				}
				return nil
			})
		}}
	addClientFlags(cmd, o)
	return cmd
}
