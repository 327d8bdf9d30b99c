package main

// Shell completion of app, pool and machine names, asked of the running
// hoist the command talks to (`hoist completion bash|zsh|fish|powershell`
// prints the script).

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// nameKind is what a name completes to.
type nameKind int

const (
	appNames nameKind = iota
	poolNames
	machineNames
)

// completionTimeout bounds the requests of one completion: a shell waits
// for them at every TAB.
const completionTimeout = 3 * time.Second

// names lists the names of a kind on the server, those starting with
// prefix, sorted. Completion fails quietly: no server, no suggestions.
func (o *clientOptions) names(ctx context.Context, kind nameKind, prefix string) []string {
	opt := *o
	opt.output, opt.timeout = formatTable, completionTimeout
	c, err := opt.client()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	var all []string
	switch kind {
	case appNames:
		v, err := c.Apps(ctx)
		if err != nil {
			return nil
		}
		for _, a := range v.Apps {
			all = append(all, a.Name)
		}
	case poolNames, machineNames:
		v, err := c.Pools(ctx)
		if err != nil {
			return nil
		}
		for _, p := range v.Pools {
			if kind == poolNames {
				all = append(all, p.Name)
				continue
			}
			pv, err := c.Pool(ctx, p.Name, false)
			if err != nil {
				return nil
			}
			for _, m := range pv.Machines {
				all = append(all, m.Name)
			}
		}
	}
	var out []string
	for _, n := range all {
		// Only names a shell can take as they are: a name with a control
		// character or a space is not offered.
		if strings.HasPrefix(n, prefix) && clean(n) == n && !strings.ContainsAny(n, " \t") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// completeArg completes a command's first argument with names of a kind.
func completeArg(o *clientOptions, kind nameKind) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return o.names(cmd.Context(), kind, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeNames completes flags' values with names of a kind.
func completeNames(cmd *cobra.Command, o *clientOptions, flags map[string]nameKind) {
	for flag, kind := range flags {
		_ = cmd.RegisterFlagCompletionFunc(flag, func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return o.names(cmd.Context(), kind, toComplete), cobra.ShellCompDirectiveNoFileComp
		})
	}
}
