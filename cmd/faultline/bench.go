package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/bench"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/docs"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/stream"
)

// benchLong is bench's help: docs/bench.md, which is also what "faultline
// help bench" prints (the command takes the topic's name).
func benchLong() string {
	t, ok := docs.Lookup("bench")
	if !ok {
		return "Bench runs fault workloads on the model and on the host kernel, side by side."
	}
	return strings.TrimSpace(string(t.Text))
}

// benchFlags are faultline bench's options.
type benchFlags struct {
	asJSON               bool
	runs                 int
	ops                  uint64
	threads              int
	modelOnly, hostOnly  bool
	pattern, handlerName string
}

func newBenchCmd(stdout, stderr io.Writer) *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench [--json] [--runs N] [--ops N] [--threads N] [--model-only|--host-only] [-run REGEX] [--handler generic|native]",
		Short: "Run fault workloads on the model and on the host kernel, side by side",
		Long:  benchLong(),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, got, stop := interruptible(ctx)
			defer stop()
			err := runBench(ctx, f, stdout, stderr)
			if sig := got(); sig != 0 {
				return &exitError{128 + int(sig), fmt.Sprintf("interrupted by %s: the host run was torn down", sigName(sig))}
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.asJSON, "json", false, "print one JSON object per workload (docs/json.md, type bench)")
	fl.IntVar(&f.runs, "runs", 5, "measured runs of each workload on each side (`N`), after one warm-up run")
	fl.Uint64Var(&f.ops, "ops", bench.DefaultOps, "faults per run (`N`)")
	fl.IntVar(&f.threads, "threads", 2, "threads of threads-N (`N`)")
	fl.BoolVar(&f.modelOnly, "model-only", false, "run the model side only")
	fl.BoolVar(&f.hostOnly, "host-only", false, "run the host side only")
	fl.StringVar(&f.pattern, "run", "", "only the workloads whose name matches `REGEX` (also -run)")
	fl.StringVar(&f.handlerName, "handler", "generic", "the model's fault path: generic or native")
	return cmd
}

// benchSetup is a bench run's configuration from its flags: the error is
// a usage error.
func benchSetup(f benchFlags) (bench.Config, machine.Handler, error) {
	var c bench.Config
	usage := func(format string, args ...any) (bench.Config, machine.Handler, error) {
		return c, 0, &exitError{2, fmt.Sprintf(format, args...)}
	}
	if f.modelOnly && f.hostOnly {
		return usage("--model-only and --host-only: choose one")
	}
	if f.runs < 1 || f.runs > 1000 {
		return usage("--runs %d: want 1 to 1000", f.runs)
	}
	if err := bench.CheckOps(f.ops, f.threads); err != nil {
		return usage("%v", err)
	}
	h, err := machine.ParseHandler(f.handlerName)
	if err != nil {
		return usage("--handler: %v", err)
	}
	ws := bench.Workloads(f.threads)
	if f.pattern != "" {
		re, err := regexp.Compile(f.pattern)
		if err != nil {
			return usage("--run %s: %v", f.pattern, err)
		}
		sel := bench.Select(ws, re)
		if len(sel) == 0 {
			return usage("--run %s: no workload matches (workloads: %s)", f.pattern, workloadNames(ws))
		}
		// The scaling of threads-N and procs-N needs threads-1,
		// measured alongside.
		for _, w := range sel {
			if (w.Kind == bench.Threads || w.Kind == bench.Procs) && w.Threads > 1 && !re.MatchString("threads-1") {
				sel = bench.Select(ws, regexp.MustCompile(`^threads-1$|`+"(?:"+f.pattern+")"))
				break
			}
		}
		ws = sel
	}
	c = bench.Config{Workloads: ws, Ops: f.ops, Runs: f.runs}
	return c, h, nil
}

func workloadNames(ws []bench.Workload) string {
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = w.Name
	}
	return strings.Join(names, ", ")
}

// runBench runs the workloads and prints their results as they come.
func runBench(ctx context.Context, f benchFlags, stdout, stderr io.Writer) error {
	c, h, err := benchSetup(f)
	if err != nil {
		return err
	}
	arch := bench.HostArch()
	if !f.hostOnly {
		m := &bench.Model{Arch: arch, Handler: h, Config: config.Default()}
		if err := m.Check(); err != nil {
			return &exitError{2, fmt.Sprintf("the model cannot run here: %v (--host-only runs the host side alone)", err)}
		}
		c.Model = m
	}
	switch {
	case f.modelOnly:
		c.HostMissing = "not run (--model-only)"
	default:
		hs, err := bench.StartHost(ctx)
		if err != nil {
			if f.hostOnly {
				return &exitError{2, fmt.Sprintf("the host cannot run workloads: %v", err)}
			}
			c.HostMissing = strings.TrimSpace(err.Error())
			break
		}
		defer hs.Close()
		c.Host = hs
		// An interrupt kills the executor at once: a run in flight ends.
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-ctx.Done():
				hs.Close()
			case <-done:
			}
		}()
	}
	kernel := hostKernel()
	var js *stream.Writer
	var werr error
	var tab *benchTable
	if f.asJSON {
		js = stream.NewWriter(stdout)
	} else {
		tab = &benchTable{w: stdout}
		tab.head(arch, kernel, c)
	}
	prog := startProgress(stderr, "faultline bench", len(c.Workloads))
	defer prog.end()
	failed := 0
	bench.Run(ctx, c, func(r bench.Result) {
		if r.Model.Failed || r.Host.Failed {
			failed++
		}
		prog.step(func() {
			if js != nil {
				if err := js.Write(r.Record(arch, kernel, h.String())); err != nil && werr == nil {
					werr = err
				}
				return
			}
			tab.row(r)
		})
	})
	if tab != nil {
		tab.end()
	}
	if werr != nil {
		return werr
	}
	if failed > 0 && ctx.Err() == nil {
		return &exitError{1, fmt.Sprintf("%s failed on a side (see the notes)", plural(failed, "workload"))}
	}
	return nil
}

// hostKernel is the running kernel's release, "" where there is none to
// read (not Linux).
func hostKernel() string {
	if runtime.GOOS != "linux" {
		return ""
	}
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// benchTable prints bench's text output: a header, a row per workload,
// then the notes the rows refer to.
type benchTable struct {
	w                         io.Writer
	notes                     []string
	hostMissing, modelMissing string // said in the header, not per row
}

const benchRow = "%-18s %9s %9s  %9s %9s  %7s %7s"

// line prints one row of the table, without trailing blanks.
func (t *benchTable) line(cells ...any) {
	fmt.Fprintln(t.w, strings.TrimRight(fmt.Sprintf(benchRow, cells...), " "))
}

func (t *benchTable) head(arch, kernel string, c bench.Config) {
	k := "Linux " + kernel
	if kernel == "" {
		k = "no Linux kernel"
	}
	model := "not run (--host-only)"
	if c.Model != nil {
		model = fmt.Sprintf("%s, %s handler", c.Model.Arch, c.Model.Handler)
	} else {
		t.modelMissing = model
	}
	fmt.Fprintf(t.w, "faultline bench: host %s, %s; model %s\n", orUnknown(arch), k, model)
	fmt.Fprintf(t.w, "%s of %d faults per workload and side (after a warm-up run); faults per second, min and median\n", plural(c.Runs, "run"), c.Ops)
	if c.Host == nil && c.HostMissing != "" {
		t.hostMissing = c.HostMissing
		fmt.Fprintf(t.w, "host: %s\n", strings.TrimPrefix(strings.TrimSpace(c.HostMissing), "host: "))
	}
	fmt.Fprintln(t.w)
	t.line("", "model", "", "host", "", "model/host", "")
	t.line("workload", "min", "median", "min", "median", "min", "median")
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown arch)"
	}
	return s
}

func (t *benchTable) row(r bench.Result) {
	cells := func(s bench.Side, who string) (string, string) {
		switch {
		case s.Ran():
			if s.Mismatch != "" {
				t.notes = append(t.notes, fmt.Sprintf("%s, %s: %s", r.Workload.Name, who, s.Mismatch))
			}
			return si(s.Stats.Min), si(s.Stats.Median)
		case who == "host" && s.Missing == t.hostMissing, who == "model" && s.Missing == t.modelMissing:
			return "-", "-" // said once, above the table
		default:
			t.notes = append(t.notes, fmt.Sprintf("%s, %s: %s", r.Workload.Name, who, s.Missing))
			return "-", "*"
		}
	}
	mmin, mmed := cells(r.Model, "model")
	hmin, hmed := cells(r.Host, "host")
	qmin, qmed := "-", "-"
	if r.Ratio != nil {
		qmin, qmed = ratio(r.Ratio.Min), ratio(r.Ratio.Median)
	}
	t.line(r.Workload.Name, mmin, mmed, hmin, hmed, qmin, qmed)
	var sc []string
	for _, s := range []struct {
		who string
		x   *float64
	}{{"model", r.ModelScaling}, {"host", r.HostScaling}} {
		if s.x != nil {
			sc = append(sc, fmt.Sprintf("%s ×%.2f", s.who, *s.x))
		}
	}
	if len(sc) > 0 {
		t.notes = append(t.notes, fmt.Sprintf("%s over threads-1 (median): %s", r.Workload.Name, strings.Join(sc, ", ")))
	}
}

func (t *benchTable) end() {
	if len(t.notes) == 0 {
		return
	}
	fmt.Fprintln(t.w)
	for _, n := range t.notes {
		fmt.Fprintln(t.w, n)
	}
}

// si formats a rate with an SI prefix and three significant digits.
func si(x float64) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return "?"
	case x >= 1e9:
		return fmt.Sprintf("%.3gG", x/1e9)
	case x >= 1e6:
		return fmt.Sprintf("%.3gM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.3gk", x/1e3)
	}
	return fmt.Sprintf("%.3g", x)
}

func ratio(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "?"
	}
	return fmt.Sprintf("%.2f", x)
}
