//go:build linux

package main

import (
	"context"

	"github.com/faultline/faultline/conform"
	"github.com/faultline/faultline/hostrun"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/timeout"
)

// hostObserve runs s on the host kernel, recording every statement, or
// says why the host cannot run it.
func hostObserve(ctx context.Context, h *conform.Host, s *scenario.Scenario) (runner.Report, string) {
	if why := h.Skip(s); why != "" {
		return runner.Report{}, why
	}
	return h.Run(ctx, s, hostrun.Options{Scale: timeout.FromContext(ctx)}), ""
}
