package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/cluster"
)

// newPoolCmd is `hoist pool`: its verbs are in pool_*.go.
func newPoolCmd() *cobra.Command {
	o := &clientOptions{}
	cmd := &cobra.Command{Use: "pool", Aliases: []string{"pools"}, Short: "List, show and scale pools of machines on a running hoist"}
	addClientFlags(cmd, o)
	cmd.AddCommand(newPoolLsCmd(o), newPoolShowCmd(o), newPoolScaleCmd(o), newPoolCancelDrainCmd(o))
	return cmd
}

// phases counts a pool's machines by phase, in lifecycle order.
func phases(m map[cluster.Phase]int) string {
	order := []cluster.Phase{"ordered", "booting", "ready", "selected", "draining", "drained", "removed", "failed", "destroyed"}
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
