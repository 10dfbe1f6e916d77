//go:build linux

package conform

import (
	"context"
	"time"

	"github.com/faultline/faultline/hostrun"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/timeout"
)

// Host is the machine conformance runs on.
type Host = hostrun.Host

// Detect builds the executor and probes the machine. The bounds of its
// probes, like those of RunOne's runs, are multiplied by the scale ctx
// carries (timeout.WithScale), else FAULTLINE_TIMEOUT_SCALE's.
//
// The host starts each run's executor as the previous run ends (Ahead),
// so that the start overlaps the models of the scenario before.
func Detect(ctx context.Context) (*Host, error) {
	h, err := hostrun.Detect(ctx)
	if err == nil {
		h.Ahead = true
	}
	return h, err
}

// RunOne runs s on the host and on the model of the host's architecture,
// configured as the host is: its native handler, compared with the host
// and the expectation (Compare), and its generic handler, whose
// differences from the host are listed (Classify). Where the arch's native
// handler is not modeled, the generic model stands in for it, and
// Result.Model says so.
func RunOne(ctx context.Context, h *Host, s *scenario.Scenario) Result {
	return RunOneWith(ctx, h, s, nil)
}

// RunOneWith is RunOne with the model runs made beforehand (RunModels
// for the host's arch and configuration), or, with m nil, made here.
func RunOneWith(ctx context.Context, h *Host, s *scenario.Scenario, m *Models) Result {
	start := time.Now()
	if why := h.Skip(s); why != "" {
		return Result{Scenario: s.Name, File: s.Pos.File, Arch: h.Arch, Class: Skipped, Reason: why, Duration: time.Since(start)}
	}
	hr := h.Run(ctx, s, hostrun.Options{Scale: timeout.FromContext(ctx)})
	if m == nil {
		mm := RunModels(ctx, h.Arch, h.Config, s)
		m = &mm
	}
	res := JudgeWith(s, hr, *m)
	res.Duration, res.HostDuration = time.Since(start), hr.Duration
	return res
}
