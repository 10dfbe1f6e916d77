package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/timeout"
)

// bounds are the flags run and conform share: the timeout scale and
// whether a run that checked nothing may pass.
type bounds struct {
	scale        float64
	allowSkipAll bool
}

// timeoutHelp is the paragraph of run's and conform's help on both flags.
const timeoutHelp = `No outcome depends on a wall-clock limit: the model is waited for while
it makes progress, and the host's kernel says when a thread is blocked.
Limits are only safety nets; a run one of them ends is TIMEOUT
("timed_out" in run's JSON, class "timed out" in conform), never a wrong
answer.
--timeout-scale FACTOR, or the environment variable ` + timeout.EnvVar + `
(the flag wins), multiplies every one of them, for a loaded or emulated
machine.

A run that checked nothing (every scenario skipped, say with --arch
loongarch64, or no statement run) does not pass: it exits 2, unless
--allow-skip-all says that is expected.`

func (b *bounds) register(cmd *cobra.Command) {
	b.registerScale(cmd)
	cmd.Flags().BoolVar(&b.allowSkipAll, "allow-skip-all", false, "exit 0 even when nothing was checked (every scenario skipped)")
}

// registerScale registers --timeout-scale alone.
func (b *bounds) registerScale(cmd *cobra.Command) {
	cmd.Flags().Float64Var(&b.scale, "timeout-scale", 0, "multiply every wall-clock safety net by `FACTOR` (default: $"+timeout.EnvVar+", else 1)")
}

// timeoutScale is the scale the flag sets, else the environment's.
func (b *bounds) timeoutScale(cmd *cobra.Command) (timeout.Scale, error) {
	if cmd.Flags().Changed("timeout-scale") {
		s, err := timeout.Parse(fmt.Sprint(b.scale))
		if err != nil {
			return 0, &exitError{2, "--timeout-scale: " + err.Error()}
		}
		return s, nil
	}
	s, err := timeout.Env()
	if err != nil {
		return 0, &exitError{2, err.Error()}
	}
	return s, nil
}

// nothingChecked is the error of a run that checked nothing, unless the
// user allowed it.
func (b *bounds) nothingChecked(allSkipped bool) error {
	if b.allowSkipAll {
		return nil
	}
	why := "no statement was run"
	if allSkipped {
		why = "every scenario was skipped"
	}
	return &exitError{2, "nothing was checked: " + why + " (--allow-skip-all accepts that)"}
}

// timedOut is the error of a run that a safety net ended.
func timedOut(n int, what string) error {
	return &exitError{2, fmt.Sprintf("%s timed out: nothing is known of %s outcomes (--timeout-scale or %s widens the safety nets)",
		plural(n, what), map[bool]string{true: "its", false: "their"}[n == 1], timeout.EnvVar)}
}
