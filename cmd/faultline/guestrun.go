package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/guest"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/timeout"
)

// newGuestCmd is faultline guest: the scenarios on a qemu guest's kernel
// alone, judged against their expectations, no model involved. It is
// what conform --arch does before it compares, for an arch whose model
// is not there yet (or to see the kernel's outcomes).
func newGuestCmd(stdout, stderr io.Writer) *cobra.Command {
	var asJSON, steps bool
	var b bounds
	var sel selection
	var arch, kernel string
	cmd := &cobra.Command{
		Use:   "guest --arch ARCH [--kernel VERSION] [PATH...] [-run REGEX] [--steps] [--json]",
		Short: "Run scenarios on a real kernel of another arch under qemu, checking their expectations (no model)",
		Long: `Boot a stock Debian kernel of ARCH (` + strings.Join(guest.Arches, ", ") + `)
under qemu as conform --arch does (the same fetch, build, boot and bounds:
see faultline help conform) and run the scenarios on it (default: the
built-in corpus), each judged against its own expectations only: no model
runs. Each scenario is printed as run prints it, "kernel" in the handler
column; --steps adds every statement's observed outcome. This is the
guest half of conform --arch, for an arch the model does not model yet.

--json prints one object per line: the guest ({"type":"guest"}: the
kernel, its packages, what the guest detected, the boot's times), each
scenario's result as the guest sent it ({"type":"result"}, its report
with every step), then {"type":"summary"}.

Exit status: 0 when every scenario that ran passed, 1 when one failed,
2 when the guest could not be prepared or booted, a scenario errored or
timed out, or nothing ran.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if arch == "" {
				return &exitError{2, "guest: --arch is required (" + strings.Join(guest.Arches, ", ") + ")"}
			}
			spec, err := guest.ParseSpec(arch + ":" + kernel)
			if err != nil {
				return &exitError{2, "--arch/--kernel: " + err.Error()}
			}
			scale, err := b.timeoutScale(cmd)
			if err != nil {
				return err
			}
			files, loadErrs, err := loadSelected(args, cmd.InOrStdin(), &sel)
			if err != nil {
				return err
			}
			for _, e := range loadErrs {
				fmt.Fprintln(stderr, e)
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, got, stop := interruptible(timeout.WithScale(ctx, scale))
			defer stop()
			err = runGuest(ctx, files, spec, scale, asJSON, steps, stdout, stderr)
			if sig := got(); sig != 0 {
				return &exitError{128 + int(sig), fmt.Sprintf("interrupted by %s: qemu was killed", sigName(sig))}
			}
			if err == nil && len(loadErrs) > 0 {
				return &exitError{code: 2}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&arch, "arch", "", "the guest's `ARCH` ("+strings.Join(guest.Arches, ", ")+")")
	cmd.Flags().StringVar(&kernel, "kernel", "", "the guest's kernel `VERSION` or Debian suite (default: the arch's oldest)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the guest, each result and a summary as JSON, one object per line")
	cmd.Flags().BoolVar(&steps, "steps", false, "print every statement's observed outcome")
	b.registerScale(cmd)
	sel.register(cmd)
	return cmd
}

// guestSummary counts a guest run's scenarios.
type guestSummary struct {
	Type string `json:"type"`
	// BootSeconds is the time to the guest's host line, Seconds the
	// whole command's.
	BootSeconds float64 `json:"boot_seconds"`
	Error       string  `json:"error,omitempty"`
	Pass        int     `json:"pass"`
	Fail        int     `json:"fail"`
	Skipped     int     `json:"skipped"`
	Errors      int     `json:"errors"`
	Missing     int     `json:"missing"` // never reported: the guest ended first
	Seconds     float64 `json:"seconds"`
}

// runGuest boots spec's guest with files and prints what it reported.
func runGuest(ctx context.Context, files []source, spec guest.Spec, scale timeout.Scale, asJSON, steps bool, stdout, stderr io.Writer) error {
	start := time.Now()
	var gs []guest.Scenario
	for _, f := range files {
		// Parsed here too: a file the guest could not parse is reported
		// before a boot is spent on it.
		if _, err := scenario.Parse(f.name, f.src); err != nil {
			fmt.Fprintln(stderr, err)
			return &exitError{code: 2}
		}
		gs = append(gs, guest.Scenario{Name: f.name, Src: f.src})
	}
	if len(gs) == 0 {
		return &exitError{2, "guest: no scenario to run"}
	}
	logf := func(s string) { fmt.Fprintln(stderr, "guest:", s) }
	p, err := guest.Prepare(ctx, spec, gs, scale, logf)
	if err != nil {
		return &exitError{2, err.Error()}
	}
	defer p.Close()
	logf(fmt.Sprintf("booting %s (%s) with %d scenarios", spec, p.Kernel.Release, len(gs)))
	// Printed as the guest reports: its header at its host line, each
	// result as it comes.
	info := guestInfo{Spec: spec, Release: p.Kernel.Release, Packages: p.Kernel.Packages}
	enc := json.NewEncoder(stdout)
	sum := guestSummary{Type: "summary"}
	seen := map[int]bool{}
	onLine := func(kind string, v any) {
		switch kind {
		case guest.KindHost:
			h := v.(*guest.HostInfo)
			// The configuration a model of the guest would have
			// (conform's).
			kcfg, err := guest.ReadKconfig(p.Kernel.Config)
			if err != nil {
				info.Notes = append(info.Notes, "kernel config: "+err.Error())
			}
			cfg, notes := guest.ModelConfig(h, kcfg)
			info.Notes = append(info.Notes, notes...)
			info.ModelConfig = cfg.String()
			if raw, err := json.Marshal(h); err == nil {
				info.Host = raw
			}
			if asJSON {
				enc.Encode(struct {
					Type string `json:"type"`
					guestInfo
				}{"guest", info})
			} else {
				printGuest(stdout, info, h, false)
			}
		case guest.KindResult:
			r := *v.(*guest.Result)
			seen[r.Index] = true
			switch {
			case r.Skip != "":
				sum.Skipped++
			case r.Report.Status == runner.Pass:
				sum.Pass++
			case r.Report.Status == runner.Fail:
				sum.Fail++
			default:
				sum.Errors++
			}
			switch {
			case asJSON:
				enc.Encode(struct {
					Type string `json:"type"`
					guest.Result
				}{"result", r})
			case r.Skip != "":
				fmt.Fprintf(stdout, "skip  %-8s kernel  %s: %s\n", spec.Arch, r.File, r.Skip)
			default:
				rep := r.Report
				rep.Arch = spec.Arch
				printKernelReport(stdout, rep, steps)
			}
		}
	}
	boot := p.Machine.Run(ctx, onLine)
	if boot.Err != nil {
		info.Error = boot.Err.Error()
	}
	if boot.Host == nil {
		msg := "the guest reported nothing"
		if boot.Err != nil {
			msg = boot.Err.Error()
		}
		if tail := boot.ConsoleTail(20); tail != "" {
			msg += "\nconsole:\n" + tail
		}
		return &exitError{2, msg}
	}
	for i := range gs {
		if !seen[i] {
			sum.Missing++
			if !asJSON {
				fmt.Fprintf(stdout, "error %-8s kernel  %s: not reported: %s\n", spec.Arch, gs[i].Name, info.Error)
			}
		}
	}
	sum.Seconds = time.Since(start).Seconds()
	sum.BootSeconds, sum.Error = boot.BootSeconds, info.Error
	if asJSON {
		enc.Encode(sum)
	} else {
		fmt.Fprintf(stdout, "\nguest: booted in %.1fs, ran for %.1fs\n", boot.BootSeconds, boot.Seconds)
		fmt.Fprintf(stdout, "%d pass, %d fail, %d skipped, %d errors, %d not reported (%d scenarios)\n",
			sum.Pass, sum.Fail, sum.Skipped, sum.Errors, sum.Missing, len(gs))
	}
	switch {
	case sum.Errors > 0 || sum.Missing > 0 || boot.Err != nil:
		return &exitError{code: 2}
	case sum.Fail > 0:
		return &exitError{code: 1}
	case sum.Pass == 0:
		return &exitError{2, "guest: nothing ran (every scenario skipped)"}
	}
	return nil
}

// printKernelReport prints a host run's report as run prints a model's,
// "kernel" where the handler goes, and with steps each statement's
// observed outcome.
func printKernelReport(w io.Writer, r runner.Report, steps bool) {
	var b strings.Builder
	printReport(&b, r)
	out := b.String()
	// printReport's handler column: the host run has none.
	if h := fmt.Sprintf("%-7s", r.Handler); strings.Contains(out, " "+h+" ") {
		out = strings.Replace(out, " "+h+" ", " kernel  ", 1)
	}
	io.WriteString(w, out)
	if !steps {
		return
	}
	for _, s := range r.Steps {
		mark := " "
		if s.Checked && !s.OK {
			mark = "!"
		}
		fmt.Fprintf(w, "    %s %s: %s => %s\n", mark, s.Pos, s.Stmt, s.Observed)
	}
}
