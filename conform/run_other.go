//go:build !linux

package conform

import (
	"context"
	"errors"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/scenario"
)

// Host is the machine conformance runs on; off Linux there is none.
type Host struct {
	Arch, Kernel string
	Root         bool
	Config       config.Kernel
	Missing      map[string]string
	Notes        []string
}

// Close does nothing.
func (h *Host) Close() error { return nil }

// Detect fails: the host kernel is the oracle only on Linux.
func Detect(context.Context) (*Host, error) {
	return nil, errors.New("faultline conform runs scenarios on the host's Linux kernel: it needs Linux")
}

// RunOne is never reached off Linux.
func RunOne(_ context.Context, h *Host, s *scenario.Scenario) Result {
	return Result{Scenario: s.Name, File: s.Pos.File, Class: Broken, Reason: "not Linux"}
}

// RunOneWith is never reached off Linux.
func RunOneWith(ctx context.Context, h *Host, s *scenario.Scenario, _ *Models) Result {
	return RunOne(ctx, h, s)
}

// Skip is never reached off Linux.
func (h *Host) Skip(*scenario.Scenario) string { return "not Linux" }
