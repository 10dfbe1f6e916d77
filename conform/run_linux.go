//go:build linux

package conform

import (
	"context"

	"github.com/faultline/faultline/hostrun"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/timeout"
)

// Host is the machine conformance runs on.
type Host = hostrun.Host

// Detect builds the executor and probes the machine. The bounds of its
// probes, like those of RunOne's runs, are multiplied by the scale ctx
// carries (timeout.WithScale), else FAULTLINE_TIMEOUT_SCALE's.
func Detect(ctx context.Context) (*Host, error) { return hostrun.Detect(ctx) }

// RunOne runs s on the host and on the model of the host's architecture,
// configured as the host is, and compares the two with the expectation.
func RunOne(ctx context.Context, h *Host, s *scenario.Scenario) Result {
	if why := h.Skip(s); why != "" {
		return Result{Scenario: s.Name, File: s.Pos.File, Arch: h.Arch, Class: Skipped, Reason: why}
	}
	hr := h.Run(ctx, s, hostrun.Options{Scale: timeout.FromContext(ctx)})
	var mr *runner.Report
	if machine.Modeled(h.Arch) {
		cfg := h.Config
		rep := runner.Run(s, h.Arch, runner.Options{Handler: machine.Generic, Config: &cfg, Record: true, Scale: timeout.FromContext(ctx)})
		mr = &rep
	}
	return Compare(s, hr, mr)
}
