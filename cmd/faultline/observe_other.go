//go:build !linux

package main

import (
	"context"

	"github.com/faultline/faultline/conform"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
)

// hostObserve is never reached off Linux: conform.Detect fails there.
func hostObserve(context.Context, *conform.Host, *scenario.Scenario) (runner.Report, string) {
	return runner.Report{}, "the host run needs Linux"
}
