package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/conform"
	"github.com/faultline/faultline/guest"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/stream"
	"github.com/faultline/faultline/timeout"
)

func newConformCmd(stdout, stderr io.Writer) *cobra.Command {
	var asJSON, ktap bool
	var b bounds
	var sel selection
	var guestArch, guestKernel string
	cmd := &cobra.Command{
		Use:   "conform [PATH...] [--arch ARCH [--kernel VERSION]]",
		Short: "Run scenarios on the host kernel and on the model, and report every disagreement",
		Long: `Run each scenario on this machine's own Linux kernel, through real system
calls, and on the model of the host's architecture configured as the host
is — its native handler, the arch's own fault.c, which is what the kernel
runs (default: the corpus built into the binary; -run REGEX keeps the
scenarios whose name matches, "-" reads one from standard input, and a
path that cannot be read is reported as run reports it while the others
still run, exit status 2). Each scenario is classified:

  agree                the expectation, the host and the model agree
  model wrong          the model and the real kernel differ, whatever the
                       expectation says
  expectation wrong    the model and the real kernel agree, against the
                       expectation
  generic unexplained  the three agree, but the generic handler's model
                       differs from the host where no conversion rule
                       says it should
  skipped              the host cannot run it (a missing feature, a
                       pinned config value the host does not have, a
                       model-only statement or outcome); the reason is
                       printed
  error                a run broke
  timed out            a safety net ended the host or the model run:
                       nothing is known of who is right

The generic handler's model runs too, and every statement where it
differs from the host is listed: "generic differs by rule NAME" where the
native model noted that conversion rule (see faultline diff), else as
unexplained. Where the arch's native handler is not modeled, the generic
model stands in for it (the host lines say so) and is not run twice.

The host run builds a small C executor with the machine's C compiler and
drives it statement by statement: forks are real forks, threads real
threads. A statement is blocked when the kernel shows its thread stopped
or asleep in a userfaultfd wait (where the kernel hides where threads
sleep, a note says so and a thread asleep without answering for 200ms
counts instead); any other statement may take 60s before its run times
out. Memory cgroups and the hugetlb pool need root.

With --arch (arm64, riscv64, ppc64le, s390x) the scenarios run instead on
that arch's real Linux kernel, a stock Debian kernel booted under qemu's
software emulation, and are compared with that arch's native model
configured as the guest kernel detected itself; an arch the model does
not model is refused (faultline guest runs its kernel alone). --kernel
picks the kernel: 6.1 (bookworm; not riscv64), 6.12 (trixie) or 7.2
(forky), or the suite's name; the default is 6.1, 7.2 for riscv64
(Debian's ppc64el 6.1 kernel has 64 KiB pages, its 6.12 and 7.2 kernels
4 KiB). The kernel
packages are fetched with apt-get download into the user's cache
($XDG_CACHE_HOME or ~/.cache, faultline/guest) with a private apt state
and unpacked there: nothing is installed. The executor is cross-compiled
and faultline itself is built for the guest from the module's source
(the clone conform runs in, or $FAULTLINE_SOURCE); qemu, the cross
compilers and the firmware come from "faultline setup". The guest's
scratch files are on an ext4 disk image. The boot may take 3 minutes to
the guest's first line and 5 minutes between two results (scaled by
--timeout-scale) before qemu is killed and the rest reported timed out.

` + timeoutHelp + `

` + ktapHelp + `

Exit status: 0 when every scenario that ran agrees three ways and the
generic model differs from the host only by rules, 1 otherwise, 2 on errors in the files, when the host cannot run scenarios,
when a run timed out, or when nothing was checked.
SIGINT or SIGTERM stops the run: the scenario in flight is torn down (its
processes killed, its memory cgroup removed, vm.nr_hugepages restored,
its temporary files removed) and conform exits with 128 + the signal's
number (130, 143); a second signal ends it at once. If conform is killed
outright, its executor processes die with it, and the next conform run
removes what it left.

` + jsonHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			defer tuneGCForCorpus()()
			if asJSON && ktap {
				return &exitError{2, "--json and --ktap: choose one"}
			}
			scale, err := b.timeoutScale(cmd)
			if err != nil {
				return err
			}
			files, loadErrs, err := loadSelected(args, cmd.InOrStdin(), &sel)
			if err != nil {
				return err
			}
			if len(files) == 0 && len(loadErrs) > 0 {
				// Nothing to run: no host to set up for it. The errors
				// are printed as run prints them.
				for _, e := range loadErrs {
					fmt.Fprintln(stderr, e)
				}
				return &exitError{code: 2}
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, got, stop := interruptible(timeout.WithScale(ctx, scale))
			defer stop()
			switch {
			case guestArch != "":
				spec, perr := guest.ParseSpec(guestArch + ":" + guestKernel)
				if perr != nil {
					return &exitError{2, "--arch/--kernel: " + perr.Error()}
				}
				if !machine.Modeled(spec.Arch) {
					// Refused before anything is fetched or booted: there
					// is nothing to compare the guest with yet.
					return &exitError{2, fmt.Sprintf("conform --arch %s: the model does not model %s (modeled: %s), so there is nothing to compare its kernel with; `faultline guest --arch %s` runs the scenarios on that kernel alone, against their expectations",
						spec.Arch, spec.Arch, strings.Join(machine.Arches(), ", "), spec.Arch)}
				}
				err = runGuestConform(ctx, files, loadErrs, spec, scale, asJSON, ktap, b, stdout, stderr)
			case guestKernel != "":
				return &exitError{2, "--kernel needs --arch: the host's kernel is the one it runs"}
			default:
				err = runConform(ctx, files, loadErrs, asJSON, ktap, b, stdout, stderr)
			}
			if sig := got(); sig != 0 {
				return &exitError{128 + int(sig), fmt.Sprintf("interrupted by %s: the host run was torn down", sigName(sig))}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as a JSON stream, one object per line (docs/json.md)")
	cmd.Flags().BoolVar(&ktap, "ktap", false, "print the results as KTAP version 1 (kselftest, KernelCI)")
	cmd.Flags().StringVar(&guestArch, "arch", "", "run on a qemu guest of `ARCH` ("+strings.Join(guest.Arches, ", ")+") instead of the host")
	cmd.Flags().StringVar(&guestKernel, "kernel", "", "the guest's kernel `VERSION` or Debian suite (with --arch)")
	b.register(cmd)
	sel.register(cmd)
	return cmd
}

// conformSummary is a conform run's counts: the summary line of its JSON
// stream, whose header fields conformSummaryLine fills in.
type conformSummary = stream.ConformSummary

// runConform runs files on the host. loadErrs are the paths that could not
// be read: reported as run reports them, they make the run exit 2.
func runConform(ctx context.Context, files []source, loadErrs []string, asJSON, ktap bool, b bounds, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	start := time.Now()
	kt, stdout := ktapOut(ktap, stdout)
	defer kt.end()
	sum, fileErrs := loadErrors(loadErrs, asJSON, kt, stderr)
	kt.begin(len(files))
	h, err := conform.Detect(ctx)
	if err != nil {
		return &exitError{2, err.Error()}
	}
	defer h.Close()
	// The JSON stream: the host, then each file error and each result as
	// it comes, then the summary.
	var js *stream.Writer
	var werr error
	write := func(v any) {
		if err := js.Write(v); err != nil && werr == nil {
			werr = err
		}
	}
	if asJSON {
		js = stream.NewWriter(stdout)
		write(hostLine(h))
		if err := fileErrorLines(js, stream.CommandConform, fileErrs); err != nil && werr == nil {
			werr = err // the paths that could not be read
		}
	} else {
		printHost(stdout, h)
	}
	models := conformModels(ctx, h, files)
	results := []conform.Result{}
	prog := startProgress(stderr, "faultline conform", len(files))
	defer prog.end()
	for _, f := range files {
		if ctx.Err() != nil {
			break // interrupted: the run in flight has been torn down
		}
		n := len(fileErrs)
		s := parseOrReport(f, asJSON, stderr, &fileErrs)
		if s == nil {
			sum.FileErrors++
			if asJSON {
				if err := fileErrorLines(js, stream.CommandConform, fileErrs[n:]); err != nil && werr == nil {
					werr = err
				}
			}
			kt.fileError(f.name, fileErrs[n:])
			continue
		}
		res := conform.RunOneWith(ctx, h, s, models[f.name])
		results = append(results, res)
		tally(&sum, res)
		prog.step(func() {
			switch {
			case asJSON:
				write(conformLine(res, h.Kernel))
			case kt != nil:
				kt.conform(res)
			default:
				printConform(stdout, res)
			}
		})
	}
	sum.Seconds = time.Since(start).Seconds()
	if asJSON {
		write(conformSummaryLine(sum, h.Arch, h.Kernel, len(results)))
		if werr != nil {
			return werr
		}
	} else {
		printSummary(stdout, sum, len(results))
	}
	return conformExit(sum, b)
}

// conformModels runs, on every CPU, the models each scenario's host run is
// judged against, before the host runs them one at a time: the models do
// not depend on what the host does, and the host's runs are best made
// with nothing else running. Files that do not parse, and scenarios the
// host skips, get none (RunOneWith makes them when asked).
func conformModels(ctx context.Context, h *conform.Host, files []source) map[string]*conform.Models {
	var jobs []*scenario.Scenario
	for _, f := range files {
		if s, err := scenario.Parse(f.name, f.src); err == nil && h.Skip(s) == "" {
			jobs = append(jobs, s)
		}
	}
	ms := make([]conform.Models, len(jobs))
	inOrder(len(jobs), 0, func(i int) {
		if ctx.Err() == nil {
			ms[i] = conform.RunModels(ctx, h.Arch, h.Config, jobs[i])
		}
	}, func(int) {})
	out := make(map[string]*conform.Models, len(jobs))
	for i, s := range jobs {
		if ms[i].Generic != nil {
			out[s.Pos.File] = &ms[i]
		}
	}
	return out
}

// tally counts a result in the summary.
func tally(sum *conformSummary, res conform.Result) {
	switch res.Class {
	case conform.Agree:
		sum.Agree++
	case conform.ModelWrong:
		sum.ModelWrong++
	case conform.ExpectationWrong:
		sum.ExpectationWrong++
	case conform.GenericUnexplained:
		sum.GenericUnexplained++
	case conform.Skipped:
		sum.Skipped++
		sum.SkipReasons[skipKind(res.Reason)]++
	case conform.Broken:
		sum.Errors++
	case conform.TimedOut:
		sum.TimedOut++
	}
	for _, g := range res.Generic {
		if g.Documented {
			sum.GenericByRule++
		}
	}
}

// printSummary prints the summary lines of a conform run.
func printSummary(stdout io.Writer, sum conformSummary, n int) {
	fmt.Fprintf(stdout, "\n%d agree, %d model wrong, %d expectation wrong, %d generic unexplained, %d skipped, %d errors, %d timed out (%d scenarios in %.1fs)\n",
		sum.Agree, sum.ModelWrong, sum.ExpectationWrong, sum.GenericUnexplained, sum.Skipped, sum.Errors, sum.TimedOut, n, sum.Seconds)
	fmt.Fprintf(stdout, "generic model: differs from the host by a rule at %s\n", plural(sum.GenericByRule, "statement"))
	reasons := make([]string, 0, len(sum.SkipReasons))
	for r := range sum.SkipReasons {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(stdout, "  skipped %3d: %s\n", sum.SkipReasons[r], r)
	}
}

// conformExit is how conform ends: 2 for file errors, a scenario that
// timed out, or nothing checked (unless allowed); 1 for a disagreement or
// an error.
func conformExit(sum conformSummary, b bounds) error {
	switch {
	case sum.FileErrors > 0:
		return &exitError{code: 2}
	case sum.TimedOut > 0:
		return timedOut(sum.TimedOut, "scenario")
	case sum.ModelWrong+sum.ExpectationWrong+sum.GenericUnexplained+sum.Errors > 0:
		return &exitError{code: 1}
	case sum.Agree == 0 && sum.GenericUnexplained == 0:
		return b.nothingChecked(true) // all that ran was skipped
	}
	return nil
}

// position matches the file:line:column a reason may name.
var position = regexp.MustCompile(`\S+:\d+:\d+: ?`)

// skipKind groups skip reasons for the summary: the reason without the
// positions it names, and without the parenthesized detail.
func skipKind(reason string) string {
	if i := strings.Index(reason, " ("); i > 0 && strings.HasSuffix(reason, ")") {
		reason = reason[:i]
	}
	return strings.TrimSpace(position.ReplaceAllString(reason, ""))
}

func printHost(w io.Writer, h *conform.Host) {
	root := "not root"
	if h.Root {
		root = "root"
	}
	fmt.Fprintf(w, "host: %s, Linux %s, %s\n", h.Arch, h.Kernel, root)
	fmt.Fprintf(w, "config: %s\n", h.Config.String())
	if machine.Modeled(h.Arch) {
		if conform.NativeModeled(h.Arch, h.Config) {
			fmt.Fprintf(w, "model: the native %s handler; the generic handler's differences from the host are listed\n", h.Arch)
		} else {
			fmt.Fprintf(w, "model: the generic %s handler (the native one is not modeled yet)\n", h.Arch)
		}
	}
	keys := make([]string, 0, len(h.Missing))
	for k := range h.Missing {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "lacks %s: %s\n", k, h.Missing[k])
	}
	for _, n := range h.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintln(w)
}

func printConform(w io.Writer, r conform.Result) {
	label := strings.ToUpper(r.Class.String())
	switch r.Class {
	case conform.Skipped, conform.Broken, conform.TimedOut:
		fmt.Fprintf(w, "%-19s %s: %s\n", label, r.Scenario, r.Reason)
	default:
		fmt.Fprintf(w, "%-19s %s\n", label, r.Scenario)
	}
	for _, d := range r.Diffs {
		fmt.Fprintf(w, "      %s: %s\n", d.Pos, d.Stmt)
		fmt.Fprintf(w, "        expected: %s\n", d.Expected)
		fmt.Fprintf(w, "        host:     %s\n", d.Host)
		fmt.Fprintf(w, "        model:    %s\n", d.Model)
	}
	for _, g := range r.Generic {
		switch {
		case !g.Documented:
			fmt.Fprintf(w, "      generic differs, by no rule: %s: %s\n", g.Pos, g.Stmt)
		case g.Consequence:
			fmt.Fprintf(w, "      generic differs by rule %s (a consequence): %s: %s\n", g.Rule, g.Pos, g.Stmt)
		default:
			fmt.Fprintf(w, "      generic differs by rule %s: %s: %s\n", g.Rule, g.Pos, g.Stmt)
		}
		fmt.Fprintf(w, "        host:     %s\n", g.Host)
		fmt.Fprintf(w, "        generic:  %s\n", g.Generic)
	}
	if r.GenericNote != "" {
		fmt.Fprintf(w, "      note: %s\n", r.GenericNote)
	}
}

// interruptible returns a context that the first SIGINT or SIGTERM
// cancels, a function that says which signal that was (0 if none came),
// and stop, which ends the diversion. After the first signal the default
// action is back: a second one ends the program at once (its executors die
// with it; the next run cleans up the rest).
func interruptible(parent context.Context) (ctx context.Context, got func() syscall.Signal, stop func()) {
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var mu sync.Mutex
	var which syscall.Signal
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			signal.Stop(ch)
			sig, _ := s.(syscall.Signal)
			mu.Lock()
			which = sig
			mu.Unlock()
			cancel(errors.New(sigName(sig)))
		case <-done:
		}
	}()
	got = func() syscall.Signal {
		mu.Lock()
		defer mu.Unlock()
		return which
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel(context.Canceled)
		})
	}
	return ctx, got, stop
}

// sigName is the conventional name of the signals interruptible diverts.
func sigName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}
