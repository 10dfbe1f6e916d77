package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/conform"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/observe"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/timeout"
)

// observeHelp is the paragraph of observe's help that run --observe shares.
const observeHelp = `The scenario runs ignoring its expectations and is printed back with the
outcome each statement had written as its expectation, as herd7 lists the
states it observed: valid scenario syntax that parses, and passes when run
again the same way (the same --arch, --handler and --kernel). Only lines
whose outcome the file does not already state exactly change, and of them
only the expectations: comments and layout stay. Where each expectation of
a line covers runs that agree, the new outcomes go into it (overrides for
other kernel ranges stay); else the runs' outcomes fold anew: the native
outcome most arches share as the main expectation, ARCH=> where an arch
differs, generic=> and ARCH+generic=> where the generic handler does, all
at the kernel version run. Runs not made (--arch, --handler, an arch not
modeled) keep what the file says of them, unless the runs made only
sharpened it (ok 0x41 for ok), and a generic handler the file gives no
outcome of its own follows its native one. Addresses are written with the
scenario's own names (@A+1p+16) wherever a region is near; a read gives its
byte (ok 0x41, or ok ret), a kernel copy or a uffd fill its byte count,
SIGBUS its lsb; a faults count is written as the file states it (minflt,
majflt or both: the host's minor count varies with I/O timing), and a
"faults T" without an expectation stays a baseline. A run that stopped
early (a statement the model does not support, an error, a skip) is named
in a "# observe:" comment line at the end of the file.

With --host the scenario runs on this machine's kernel instead, as
faultline conform runs it (memory cgroups and the hugetlb pool need root;
take the host lock where the machine is shared); a scenario the host
cannot run is printed as written, with the reason in a "# observe:" line.
One file goes to standard output; with --out DIR each file is written to
DIR under its own name, and without it several files are printed one
after another, each after a "# file: NAME" line. Without a PATH the
corpus built into the binary is observed.`

func newObserveCmd(stdout, stderr io.Writer) *cobra.Command {
	var o observeOpts
	var b bounds
	cmd := &cobra.Command{
		Use:   "observe [PATH...] [--arch ARCH] [--handler native|generic|both] [--kernel V] [--host] [--out DIR]",
		Short: "Run scenarios ignoring their expectations and print them back with the outcomes observed",
		Long: observeHelp + `

faultline run --observe does the same.

Exit status: 0 when every file was written back, 1 when a run broke or
timed out (the file is still written, with a note), 2 when a file has
errors or the host cannot run scenarios.`,
		Example: `  faultline observe scenarios/stack-guard-gap.fault
  faultline observe --arch riscv64 --kernel 6.1 my.fault
  faultline observe --host --out /tmp/observed scenarios/file-*.fault
  faultline run --observe my.fault`,
		RunE: func(cmd *cobra.Command, args []string) error {
			scale, err := b.timeoutScale(cmd)
			if err != nil {
				return err
			}
			o.scale = scale
			return o.run(cmd.Context(), args, stdout, stderr)
		},
	}
	o.flags(cmd)
	b.registerScale(cmd)
	return cmd
}

// observeOpts are observe's options (and run --observe's).
type observeOpts struct {
	arch, handler, kernel string
	host                  bool
	out                   string
	scale                 timeout.Scale
}

// flags registers the options observe has and run lacks.
func (o *observeOpts) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.arch, "arch", "", "run only on this architecture")
	cmd.Flags().StringVar(&o.handler, "handler", "both", "the fault handler to run: native, generic or both")
	cmd.Flags().StringVar(&o.kernel, "kernel", "", "model kernel `VERSION` (MAJOR.MINOR) instead of 6.18")
	o.hostFlags(cmd)
}

// hostFlags registers --host and --out.
func (o *observeOpts) hostFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.host, "host", false, "observe on this machine's kernel instead of the model")
	cmd.Flags().StringVar(&o.out, "out", "", "write each observed file into `DIR` under its own name")
}

// run observes the files named.
func (o *observeOpts) run(ctx context.Context, paths []string, stdout, stderr io.Writer) error {
	if o.arch != "" && !slices.Contains(scenario.KnownArches, o.arch) {
		return &exitError{2, fmt.Sprintf("--arch %s: not an architecture of the language (%s)", o.arch, strings.Join(scenario.KnownArches, ", "))}
	}
	hs, err := parseHandlers(o.handler)
	if err != nil {
		return err
	}
	kv, err := parseKernel(o.kernel)
	if err != nil {
		return err
	}
	if o.host && (o.arch != "" || o.kernel != "" || o.handler != "both") {
		return &exitError{2, "--host runs the host's kernel, arch and native handler: --arch, --kernel and --handler are for the model"}
	}
	files, loadErrs := loadFiles(paths)
	for _, e := range loadErrs {
		fmt.Fprintln(stderr, e)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx = timeout.WithScale(ctx, o.scale)
	var h *conform.Host
	if o.host {
		if h, err = conform.Detect(ctx); err != nil {
			return &exitError{2, err.Error()}
		}
		defer h.Close()
	}
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return &exitError{2, err.Error()}
		}
	}
	bad, broke := len(loadErrs) > 0, false
	for i, f := range files {
		var errs []string
		s := parseOrReport(f, false, stderr, &errs)
		if s == nil {
			bad = true
			continue
		}
		in := observe.Input{Src: f.src, Scenario: s}
		if h != nil {
			rep, why := hostObserve(ctx, h, s)
			in.Kernel = h.Config.Version
			if why != "" {
				in.Notes = append(in.Notes, fmt.Sprintf("host %s %s: skipped: %s (the file is as written)", h.Arch, h.Kernel, why))
			} else {
				rep.Handler = machine.Native
				in.Reports = []runner.Report{rep}
			}
		} else {
			in.Reports = runAll(s, f.name, o.arch, hs, kv, runner.Options{Scale: o.scale, Record: true})
			in.Kernel = config.Default().Version
			if kv != nil {
				in.Kernel = *kv
			}
			for _, r := range in.Reports {
				if v, err := config.ParseVersion(r.Kernel); err == nil && r.Kernel != "" {
					in.Kernel = v
					break
				}
			}
		}
		for _, r := range in.Reports {
			if r.Status == runner.Error || r.Status == runner.TimedOut {
				broke = true
			}
		}
		text := observe.Rewrite(in)
		if _, err := scenario.Parse(f.name, text); err != nil {
			// A bug of observe's: say so rather than print what does not parse.
			fmt.Fprintf(stderr, "%s: the observed scenario does not parse: %v\n", f.name, err)
			broke = true
			continue
		}
		if o.out != "" {
			if err := os.WriteFile(filepath.Join(o.out, filepath.Base(f.name)), text, 0o644); err != nil {
				return &exitError{2, err.Error()}
			}
			continue
		}
		if len(files) > 1 {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintf(stdout, "# file: %s\n", f.name)
		}
		stdout.Write(text)
	}
	switch {
	case bad:
		return &exitError{code: 2}
	case broke:
		return &exitError{code: 1}
	}
	return nil
}
