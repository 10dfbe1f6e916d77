// Package machine builds a modeled machine for an architecture name: the
// registry of the front ends faultline models.
package machine

import (
	"fmt"
	"strings"

	"github.com/faultline/faultline/arch/riscv"
	"github.com/faultline/faultline/arch/x86"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
)

var arches = []struct {
	name string
	new  func(config.Kernel) kernel.Arch
}{
	{"x86_64", func(c config.Kernel) kernel.Arch { return x86.New(c) }},
	{"riscv64", func(c config.Kernel) kernel.Arch { return riscv.New(c) }},
}

// Arches lists the modeled architectures, in the order runs report them.
func Arches() []string {
	out := make([]string, len(arches))
	for i, a := range arches {
		out[i] = a.name
	}
	return out
}

// Modeled reports whether arch is modeled.
func Modeled(arch string) bool {
	for _, a := range arches {
		if a.name == arch {
			return true
		}
	}
	return false
}

// New returns a machine of architecture arch configured as cfg.
func New(arch string, cfg config.Kernel) (*kernel.Kernel, error) {
	for _, a := range arches {
		if a.name == arch {
			return kernel.New(cfg, a.new(cfg)), nil
		}
	}
	return nil, fmt.Errorf("architecture %q is not modeled (modeled: %s)", arch, strings.Join(Arches(), ", "))
}
