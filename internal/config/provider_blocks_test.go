package config

import (
	"strings"
	"testing"
)

// A provider's own block is accepted in its pools and refused, at its path,
// in a pool of any other provider.
func TestProviderBlocksBelongToTheirProvider(t *testing.T) {
	blocks := map[string]string{
		"local":     "local: {}",
		"command":   "command: {create: c, destroy: d, list: l}",
		"openstack": "openstack: {flavor: m1.small, image: img-1}",
		"ec2":       "ec2: {instance_type: t3.medium, ami: ami-1}",
	}
	for _, provider := range []string{"sim", "local", "command", "openstack", "ec2"} {
		for block, text := range blocks {
			pool := "max: 3\n    provider: " + provider + "\n    " + text
			if own, ok := blocks[provider]; ok && provider != block {
				pool += "\n    " + own
			}
			_, err := Parse("p.yaml", []byte(strings.Replace(minimal, "max: 3", pool, 1)))
			refused := err != nil && strings.Contains(err.Error(), "pools[0]."+block+": only for provider "+block)
			if want := provider != block; refused != want {
				t.Errorf("provider %s with a %s block: refused %v, want %v (err %v)", provider, block, refused, want, err)
			}
			if provider == block && err != nil {
				t.Errorf("provider %s with its own block: %v", provider, err)
			}
		}
	}
}
