// Package machine builds a modeled machine for an architecture name and
// a fault handler: the registry of the front ends and native handlers
// faultline models.
package machine

import (
	"fmt"
	"strings"

	"github.com/faultline/faultline/arch/arm64"
	"github.com/faultline/faultline/arch/powerpc"
	"github.com/faultline/faultline/arch/riscv"
	"github.com/faultline/faultline/arch/s390"
	"github.com/faultline/faultline/arch/x86"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/native"
)

// ConfigError is a configuration the architecture does not have (a page
// size it cannot be built with): the scenario's error, not a skip.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }

// Unwrap returns the configuration's error.
func (e *ConfigError) Unwrap() error { return e.Err }

// Handler selects which fault path a machine runs.
type Handler int

// Handlers.
const (
	// Native: the architecture's own fault.c as Linux has it, at the
	// configured kernel version: what a real kernel runs.
	Native Handler = iota
	// Generic: the architecture converted to the generic handler
	// (package fault) and the shared reaction (package arch).
	Generic
)

// Handlers lists both, in the order runs report them.
func Handlers() []Handler { return []Handler{Native, Generic} }

func (h Handler) String() string {
	switch h {
	case Native:
		return "native"
	case Generic:
		return "generic"
	}
	return fmt.Sprintf("Handler(%d)", int(h))
}

// ParseHandler parses "native" or "generic".
func ParseHandler(s string) (Handler, error) {
	for _, h := range Handlers() {
		if h.String() == s {
			return h, nil
		}
	}
	return 0, fmt.Errorf("unknown handler %q (want native or generic)", s)
}

// MarshalText implements encoding.TextMarshaler: "native" or "generic".
func (h Handler) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Handler) UnmarshalText(b []byte) error {
	p, err := ParseHandler(string(b))
	if err != nil {
		return err
	}
	*h = p
	return nil
}

var arches = []struct {
	name    string
	generic func(config.Kernel) kernel.Arch
	native  func(config.Kernel) kernel.Arch // nil: not modeled yet
}{
	{"x86_64", func(c config.Kernel) kernel.Arch { return x86.New(c) }, func(c config.Kernel) kernel.Arch { return native.NewX86(c) }},
	{"riscv64", func(c config.Kernel) kernel.Arch { return riscv.New(c) }, func(c config.Kernel) kernel.Arch { return native.NewRISCV(c) }},
	{"arm64", func(c config.Kernel) kernel.Arch { return arm64.New(c) }, func(c config.Kernel) kernel.Arch { return native.NewARM64(c) }},
	{"s390x", func(c config.Kernel) kernel.Arch { return s390.New(c) }, func(c config.Kernel) kernel.Arch { return native.NewS390(c) }},
	{"ppc64le", func(c config.Kernel) kernel.Arch { return powerpc.New(c) }, func(c config.Kernel) kernel.Arch { return native.NewPPC(c) }},
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

// New returns a machine of architecture arch configured as cfg, whose
// faults take the path h. The page size is resolved here, where the arch
// is known: cfg's, which the arch must have, or the arch's default.
func New(arch string, cfg config.Kernel, h Handler) (*kernel.Kernel, error) {
	for _, a := range arches {
		if a.name != arch {
			continue
		}
		cfg, err := cfg.ResolvePageSize(arch)
		if err != nil {
			return nil, &ConfigError{err}
		}
		mk := a.generic
		if h == Native {
			mk = a.native
		}
		if mk == nil {
			return nil, fmt.Errorf("the %s handler of %s is not modeled yet", h, arch)
		}
		return kernel.New(cfg, mk(cfg)), nil
	}
	return nil, fmt.Errorf("architecture %q is not modeled (modeled: %s)", arch, strings.Join(Arches(), ", "))
}
