package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/stream"
	"github.com/faultline/faultline/timeout"
	"github.com/faultline/faultline/trace"
)

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	var arch, handler, kernel string
	var asJSON, ktap bool
	var traceOut string
	var b bounds
	var sel selection
	var obs observeOpts // --observe
	var observing bool
	cmd := &cobra.Command{
		Use:   "run [PATH...]",
		Short: "Run scenarios on the model and check every expectation",
		Long: `Run scenario files, or every .fault file under the given directories, on the
model, for every architecture each scenario names (default: every modeled
architecture; --arch narrows) and for both fault handlers of each: the
arch's native handler (its own fault.c, what a real kernel runs) and the
generic handler (the arch converted); --handler native or generic runs
one. A statement expects its generic=> outcome, where it states one,
under the generic handler. Without a PATH the corpus built into the binary
runs. -run REGEX (or --run) runs only the scenarios whose name matches;
"-" as a PATH reads one scenario from standard input.

The model is Linux 6.18 unless a scenario pins another version (config
kernel=6.1); --kernel V models V instead, and skips a scenario that pins
another, naming its pin.

Each scenario, architecture and handler prints one line — PASS, FAIL, SKIP
(a statement the model does not support yet, an architecture or a handler
it does not model, another pinned kernel), ERROR or TIMEOUT — and a failure
prints the statement, the expected and the actual outcome. A summary
follows, with the counts of each handler.

` + jsonHelp + `

` + timeoutHelp + `

` + ktapHelp + ` Each scenario's
test has a subtest per architecture and handler ("x86_64/native").

` + traceHelp + `

Exit status: 0 when every expectation held, 1 when one did not (or the run
broke), 2 when a file has errors, a run timed out, or nothing was checked.

--observe runs the scenarios ignoring their expectations and prints them
back with the outcomes observed (--host: on this machine's kernel; --out
DIR: into files), as faultline observe does.

Modeled architectures: ` + strings.Join(machine.Arches(), ", ") + `.`,
		Example: `  faultline run
  faultline run --arch x86_64 --handler native scenarios/
  faultline run --kernel 6.1 --arch riscv64
  faultline run --json my.fault
  faultline run --trace out.json scenarios/io-wait-major.fault`,
		RunE: func(cmd *cobra.Command, args []string) error {
			defer tuneGCForCorpus()()
			if arch != "" && !slices.Contains(scenario.KnownArches, arch) {
				return &exitError{2, fmt.Sprintf("--arch %s: not an architecture of the language (%s)", arch, strings.Join(scenario.KnownArches, ", "))}
			}
			if asJSON && ktap {
				return &exitError{2, "--json and --ktap: choose one"}
			}
			hs, err := parseHandlers(handler)
			if err != nil {
				return err
			}
			kv, err := parseKernel(kernel)
			if err != nil {
				return err
			}
			scale, err := b.timeoutScale(cmd)
			if err != nil {
				return err
			}
			switch {
			case !observing && (obs.host || obs.out != ""):
				return &exitError{2, "--host and --out are options of --observe"}
			case observing && (asJSON || ktap):
				return &exitError{2, "--observe prints scenarios, not JSON or KTAP"}
			}
			if observing {
				obs.arch, obs.handler, obs.kernel, obs.scale = arch, handler, kernel, scale
				return obs.run(cmd.Context(), args, stdout, stderr)
			}
			files, loadErrs, err := loadSelected(args, cmd.InOrStdin(), &sel)
			if err != nil {
				return err
			}
			return runScenarios(files, loadErrs, runOpts{only: arch, handlers: hs, kernel: kv, asJSON: asJSON, ktap: ktap, scale: scale, bounds: b, trace: traceOut}, stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&arch, "arch", "", "run only on this architecture")
	cmd.Flags().StringVar(&handler, "handler", "both", "the fault handler to run: native, generic or both")
	cmd.Flags().StringVar(&kernel, "kernel", "", "model kernel `VERSION` (MAJOR.MINOR) instead of 6.18; skip scenarios pinning another")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as a JSON stream, one object per line (docs/json.md)")
	cmd.Flags().BoolVar(&ktap, "ktap", false, "print the results as KTAP version 1 (kselftest, KernelCI)")
	cmd.Flags().BoolVar(&observing, "observe", false, "print each scenario back with the outcomes observed as its expectations (faultline help observe)")
	obs.hostFlags(cmd)
	cmd.Flags().StringVar(&traceOut, "trace", "", "write every run's fault path to `OUT.json`, a Chrome/Perfetto trace-event file")
	b.register(cmd)
	sel.register(cmd)
	return cmd
}

// source is one scenario file to run.
type source struct {
	name string
	src  []byte
}

// loadFiles reads the files and directories named, or the built-in corpus.
// A path that cannot be read is an error of its own, reported with the
// others; the rest still run. Each file is read by scenario.ReadFile: a
// regular file within the language's size limit, never a pipe or device.
func loadFiles(paths []string) ([]source, []string) {
	if len(paths) == 0 {
		var out []source
		for _, f := range scenarios.All() {
			out = append(out, source{f.Name, f.Src})
		}
		return out, nil
	}
	var out []source
	var errs []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if !st.IsDir() {
			src, err := scenario.ReadFile(p)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			out = append(out, source{p, src})
			continue
		}
		var names []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(path, ".fault") {
				names = append(names, path)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		sort.Strings(names)
		if len(names) == 0 {
			errs = append(errs, p+": no .fault files")
		}
		for _, n := range names {
			src, err := scenario.ReadFile(n)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			out = append(out, source{n, src})
		}
	}
	return out, errs
}

// parseHandlers parses --handler: native, generic or both.
func parseHandlers(s string) ([]machine.Handler, error) {
	if s == "both" {
		return machine.Handlers(), nil
	}
	h, err := machine.ParseHandler(s)
	if err != nil {
		return nil, &exitError{2, fmt.Sprintf("--handler %s: want native, generic or both", s)}
	}
	return []machine.Handler{h}, nil
}

// parseKernel parses --kernel; "" is nil, each scenario's own version.
func parseKernel(s string) (*config.Version, error) {
	if s == "" {
		return nil, nil
	}
	v, err := config.ParseVersion(s)
	if err != nil {
		return nil, &exitError{2, fmt.Sprintf("--kernel %s: %v", s, err)}
	}
	return &v, nil
}

// counts are the outcomes of a set of runs.
type counts struct {
	Runs     int `json:"runs"`
	Passed   int `json:"passed"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
	Errors   int `json:"errors"`
	TimedOut int `json:"timed_out"`
	Checked  int `json:"checked"` // expectations checked, over every run
}

// add counts one report.
func (c *counts) add(r runner.Report) {
	c.Runs++
	switch r.Status {
	case runner.Pass:
		c.Passed++
	case runner.Fail:
		c.Failed++
	case runner.Skip:
		c.Skipped++
	case runner.Error:
		c.Errors++
	case runner.TimedOut:
		c.TimedOut++
	}
	c.Checked += r.Checked
}

// summary counts the reports of a run.
type summary struct {
	Scenarios int `json:"scenarios"`
	counts
	// Handlers has the counts of each handler run, by name.
	Handlers   map[string]counts `json:"handlers"`
	FileErrors int               `json:"file_errors"`
	Seconds    float64           `json:"seconds"`
}

// parseOrReport parses f. A file with errors gives nil: each error line
// goes to errs and, unless the output is JSON, to stderr.
func parseOrReport(f source, asJSON bool, stderr io.Writer, errs *[]string) *scenario.Scenario {
	s, err := scenario.Parse(f.name, f.src)
	if err == nil {
		return s
	}
	for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		*errs = append(*errs, line)
		if !asJSON {
			fmt.Fprintln(stderr, line)
		}
	}
	return nil
}

// runOpts are run's options.
type runOpts struct {
	only     string            // --arch
	handlers []machine.Handler // --handler; nil: both
	kernel   *config.Version   // --kernel
	asJSON   bool
	ktap     bool // KTAP output
	scale    timeout.Scale
	bounds   bounds
	trace    string // --trace: the trace-event file to write, or ""
	workers  int    // scenarios run at once; 0: one per CPU
}

func runScenarios(files []source, loadErrs []string, o runOpts, stdout, stderr io.Writer) error {
	only, asJSON := o.only, o.asJSON
	handlers := o.handlers
	if handlers == nil {
		handlers = machine.Handlers()
	}
	start := time.Now()
	sum := summary{Handlers: map[string]counts{}}
	fileErrs := []string{}
	reports := []runner.Report{}
	kt, stdout := ktapOut(o.ktap, stdout)
	for _, e := range loadErrs {
		sum.FileErrors++
		fileErrs = append(fileErrs, e)
		kt.fileError(loadErrorPath(e), []string{e})
		if !asJSON {
			fmt.Fprintln(stderr, e)
		}
	}
	type job struct {
		s    *scenario.Scenario
		file string
		runs []plannedRun
		reps []runner.Report // a report per run, then the skips
		tr   *traceJob       // nil without --trace
	}
	var jobs []*job
	for _, f := range files {
		n := len(fileErrs)
		s := parseOrReport(f, asJSON, stderr, &fileErrs)
		if s == nil {
			sum.FileErrors++
			kt.fileError(f.name, fileErrs[n:])
			continue
		}
		sum.Scenarios++
		j := &job{s: s, file: f.name}
		var skips []runner.Report
		j.runs, skips = planRuns(s, f.name, only, handlers)
		j.reps = append(make([]runner.Report, len(j.runs)), skips...)
		if o.trace != "" {
			j.tr = &traceJob{runs: make([]*trace.Run, len(j.runs))}
		}
		jobs = append(jobs, j)
	}
	// Every run is a part of its own, the costliest first; a scenario's
	// reports still come out together, in the order of the files.
	var parts []part
	for i, j := range jobs {
		cost := scenarioCost(j.s)
		for k := range j.runs {
			parts = append(parts, part{job: i, index: k, cost: cost})
		}
	}
	// The JSON stream: the file errors first (all are known now), then a
	// line per report as it comes, then the summary.
	var js *stream.Writer
	if asJSON {
		js = stream.NewWriter(stdout)
		if err := fileErrorLines(js, stream.CommandRun, fileErrs); err != nil {
			return err
		}
	}
	var werr error
	kt.begin(len(jobs))
	prog := startProgress(stderr, "faultline run", len(jobs))
	inOrderParts(len(jobs), o.workers, parts, func(p part) {
		j := jobs[p.job]
		r := j.runs[p.index]
		opts := j.tr.options(runner.Options{Scale: o.scale, Kernel: o.kernel, Handler: r.handler}, p.index)
		j.reps[p.index] = runner.Run(j.s, r.arch, opts)
	}, func(i int) {
		prog.step(func() {
			for _, rep := range jobs[i].reps {
				reports = append(reports, rep)
				if asJSON {
					if err := js.Write(runLine(rep)); err != nil && werr == nil {
						werr = err
					}
				} else if kt == nil {
					printReport(stdout, rep)
				}
			}
			kt.scenario(jobs[i].s.Name, jobs[i].reps)
		})
	})
	prog.end()
	for _, r := range reports {
		sum.add(r)
		c := sum.Handlers[r.Handler.String()]
		c.add(r)
		sum.Handlers[r.Handler.String()] = c
	}
	if o.trace != "" {
		var tjs []*traceJob
		for _, j := range jobs {
			tjs = append(tjs, j.tr)
		}
		if err := writeTraceFile(o.trace, tjs); err != nil {
			return err
		}
	}
	sum.Seconds = time.Since(start).Seconds()
	if asJSON {
		if err := js.Write(runSummaryLine(sum)); err != nil || werr != nil {
			return errors.Join(werr, err)
		}
	} else {
		fmt.Fprintf(stdout, "\n%d passed, %d failed, %d skipped, %d errors", sum.Passed, sum.Failed, sum.Skipped, sum.Errors)
		if sum.TimedOut > 0 {
			fmt.Fprintf(stdout, ", %d timed out", sum.TimedOut)
		}
		fmt.Fprintf(stdout, ": %d runs of %d scenarios in %.2fs", sum.Runs, sum.Scenarios, sum.Seconds)
		if sum.FileErrors > 0 {
			fmt.Fprintf(stdout, "; %s with errors", plural(sum.FileErrors, "file"))
		}
		fmt.Fprintln(stdout)
		for _, h := range handlers {
			c := sum.Handlers[h.String()]
			fmt.Fprintf(stdout, "  %-8s %d passed, %d failed, %d skipped, %d errors", h.String()+":", c.Passed, c.Failed, c.Skipped, c.Errors)
			if c.TimedOut > 0 {
				fmt.Fprintf(stdout, ", %d timed out", c.TimedOut)
			}
			fmt.Fprintf(stdout, " (%s)\n", plural(c.Runs, "run"))
		}
	}
	kt.end()
	return runExit(sum, o.bounds)
}

// runExit is how a run with summary sum ends: 2 for file errors, a run
// that timed out, or nothing checked (unless allowed); 1 for a failure or
// an error.
func runExit(sum summary, b bounds) error {
	switch {
	case sum.FileErrors > 0:
		return &exitError{code: 2}
	case sum.TimedOut > 0:
		return timedOut(sum.TimedOut, "run")
	case sum.Failed > 0 || sum.Errors > 0:
		return &exitError{code: 1}
	case sum.Checked == 0:
		return b.nothingChecked(sum.Skipped == sum.Runs)
	}
	return nil
}

// runAll runs s on every arch it names (narrowed to only) and every
// handler of hs, in that order; an arch that is not modeled, or a
// scenario not for only, gives a SKIP report per handler. opts gives the
// rest of each run's options.
func runAll(s *scenario.Scenario, file, only string, hs []machine.Handler, kernel *config.Version, opts runner.Options) []runner.Report {
	runs, skips := planRuns(s, file, only, hs)
	out := make([]runner.Report, 0, len(runs)+len(skips))
	opts.Kernel = kernel
	for _, r := range runs {
		opts.Handler = r.handler
		out = append(out, runner.Run(s, r.arch, opts))
	}
	return append(out, skips...)
}

// plannedRun is one run of a scenario: an arch and a handler.
type plannedRun struct {
	arch    string
	handler machine.Handler
}

// planRuns lists what runAll does for s: the runs, every arch it names
// (narrowed to only) with every handler of hs, and the SKIP reports that
// follow them, a report per handler for an arch that is not modeled, or
// for a scenario not for only.
func planRuns(s *scenario.Scenario, file, only string, hs []machine.Handler) ([]plannedRun, []runner.Report) {
	var runs []plannedRun
	var skips []runner.Report
	run, notModeled := runner.Arches(s, only)
	for _, a := range run {
		for _, h := range hs {
			runs = append(runs, plannedRun{a, h})
		}
	}
	skip := func(a, why string) {
		for _, h := range hs {
			skips = append(skips, runner.Report{Scenario: s.Name, File: file, Arch: a, Handler: h, Status: runner.Skip, Reason: why})
		}
	}
	for _, a := range notModeled {
		skip(a, "architecture not modeled yet")
	}
	if len(run)+len(notModeled) == 0 {
		skip(only, fmt.Sprintf("the scenario does not run on %s (arch %s)", only, strings.Join(s.Arches, " ")))
	}
	return runs, skips
}

func printReport(w io.Writer, r runner.Report) {
	fmt.Fprintf(w, "%-5s %-8s %-7s %s", r.Status, r.Arch, r.Handler, r.Scenario)
	switch r.Status {
	case runner.Pass:
		fmt.Fprintf(w, " (%s)\n", plural(r.Checked, "check"))
	case runner.Fail:
		fmt.Fprintf(w, " (%d of %s failed)", len(r.Failures), plural(r.Checked, "check"))
		if r.Reason != "" {
			fmt.Fprintf(w, "; then stopped: %s", r.Reason)
		}
		fmt.Fprintln(w)
	default:
		fmt.Fprintf(w, ": %s\n", r.Reason)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "      %s: %s\n", f.Pos, f.Stmt)
		fmt.Fprintf(w, "        expected: %s\n", f.Expected)
		fmt.Fprintf(w, "        actual:   %s\n", f.Actual)
		if f.Note != "" {
			fmt.Fprintf(w, "        note:     %s\n", f.Note)
		}
	}
}

// plural writes n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// scenarioCost estimates what one run of s costs, for the order runs
// start in (only the order counts): the pages its statements fault in,
// copy, populate or write, each costing more under a memory limit
// (charging, reclaim, write-back), plus a little per statement.
func scenarioCost(s *scenario.Scenario) int64 {
	var pages, limited int64
	for _, st := range s.Body {
		switch op := st.Op.(type) {
		case *scenario.Touch:
			pages += int64(op.Size >> 12)
		case *scenario.KRead:
			pages += int64(op.Size >> 12)
		case *scenario.KWrite:
			pages += int64(op.Size >> 12)
		case *scenario.File:
			pages += int64(op.Size>>12) * limited // written now, charged
		case *scenario.Mmap:
			if op.Populate {
				pages += int64(op.Size >> 12)
			}
		case *scenario.Madvise:
			if op.Advice == scenario.AdvPopulateRead || op.Advice == scenario.AdvPopulateWrite {
				pages += int64(op.Size >> 12)
			}
		case *scenario.Memlimit:
			limited = 1
		}
	}
	return pages*(1+2*limited) + 64*int64(len(s.Body))
}
