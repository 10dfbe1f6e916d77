package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/trace"
)

// explainHelp documents explain, its JSON schema included.
const explainHelp = `Run one scenario on the model with the fault path traced and print, for
each fault of the scenario (or only of the statement at LINE), the path it
took, step by step, one line per step naming the kernel function the step
mirrors: the trap as the hardware reported it (x86 error code bits, arm64
ESR EC/WnR/FSC, riscv scause, powerpc vector, DAR and DSISR), the front
end's early decisions, the
per-VMA lock attempt, the mmap lock (trylock, killable wait, the drop and
write lock of a stack expansion), find_vma and expand_downwards, the access
check, handle_mm_fault and the path inside it (do_anonymous_page,
do_wp_page, do_read_fault / do_cow_fault / do_shared_fault, filemap_fault
and its I/O, fault-around, do_swap_page, hugetlb_fault, handle_userfault,
handle_pte_marker) with the VM_FAULT_* bits it returned, each retry and
its reason, the signal check, the handler's decoding into a verdict (marked
'*'), and the front end's action (force_sig_fault, fixup_exception,
page_fault_oops). Sleeps (the I/O, a userfaultfd, a lock) show as
schedule: lines, with how they ended.

The scenario runs on the architectures it names (--arch picks one; default:
the first it names, else x86_64), on the native handler (--handler: native,
generic or both) and on Linux 6.18 unless it pins another kernel (--kernel
V models V). Expectations are not checked: explain shows what happened.

With --handler both, each fault is followed by where the two handlers part
ways: the first step, past the handlers' own decoding (the '*' lines), that
differs, or "same path".

--json prints one JSON object:

  {"file": F, "scenario": NAME, "line": LINE or 0,
   "runs": [{"arch": A, "handler": "native"|"generic", "kernel": "6.18",
             "status": "pass"|"fail"|"skip"|"error"|"timed_out", "reason": R,
             "truncated": N,                   // events dropped past the limit
             "statements": [{"line": L, "actor": ACTOR, "statement": TEXT,
                             "outcome": OUTCOME,  // "" if it never returned
                             "faults": [{"actor": ACTOR,
                                         "access": "read 0x... user mode",
                                         "action": "restart"|"fixup"|"oops"|"emulated"|"livelock",
                                         "steps": [{"seq": N, "depth": D,
                                                    "kind": "step"|"begin"|"end"|"wait"|"wait_end"|"decide",
                                                    "func": KERNEL_FUNCTION, "detail": TEXT}]}]}]}],
   "divergences": [{"arch": A, "line": L, "actor": ACTOR, "fault": I,   // --handler both
                    "same": true|false, "native_faults": N, "generic_faults": M,
                    "step": S, "native": STEP, "generic": STEP}]}

"seq" is the event's place in the run's logical clock: where actors run at
once (two faults woken by one I/O) it may differ between runs; the paths do
not. A run keeps its first 262144 events ("truncated" counts the rest).

Exit status: 0 when the scenario ran, 2 for a bad file, line or flag.`

// explainOpts are explain's options.
type explainOpts struct {
	arch, handler, kernel string
	asJSON                bool
}

func newExplainCmd(stdout, stderr io.Writer) *cobra.Command {
	var o explainOpts
	cmd := &cobra.Command{
		Use:   "explain FILE[:LINE]",
		Short: "Show the path each fault of a scenario took, step by step",
		Long:  explainHelp,
		Example: `  faultline explain scenarios/io-wait-major.fault
  faultline explain scenarios/uffd-signal-user.fault:8 --handler both
  faultline explain --arch arm64 --json scenarios/hwpoison-4k.fault`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return explain(args[0], o, stdout)
		},
	}
	cmd.Flags().StringVar(&o.arch, "arch", "", "the architecture to run on (default: the scenario's first)")
	cmd.Flags().StringVar(&o.handler, "handler", "native", "the fault handler: native, generic or both")
	cmd.Flags().StringVar(&o.kernel, "kernel", "", "model kernel `VERSION` (MAJOR.MINOR) instead of 6.18")
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print the paths as JSON (schema in the help)")
	return cmd
}

// splitLine splits FILE:LINE; a path that exists as written has no line.
func splitLine(arg string) (string, int, error) {
	if _, err := os.Stat(arg); err == nil {
		return arg, 0, nil
	}
	i := strings.LastIndexByte(arg, ':')
	if i < 0 {
		return arg, 0, nil
	}
	n, err := strconv.Atoi(arg[i+1:])
	if err != nil || n <= 0 {
		return arg, 0, nil
	}
	return arg[:i], n, nil
}

// explainRun is one traced run.
type explainRun struct {
	Arch       string            `json:"arch"`
	Handler    machine.Handler   `json:"handler"`
	Kernel     string            `json:"kernel"`
	Status     runner.Status     `json:"status"`
	Reason     string            `json:"reason,omitempty"`
	Truncated  int               `json:"truncated,omitempty"`
	Statements []trace.Statement `json:"statements"`
}

// explainDivergence is where the handlers part ways on one fault.
type explainDivergence struct {
	Arch          string          `json:"arch"`
	Line          int             `json:"line"`
	Actor         string          `json:"actor"`
	Fault         int             `json:"fault"` // 1-based, in the statement
	Same          bool            `json:"same"`
	NativeFaults  int             `json:"native_faults"`
	GenericFaults int             `json:"generic_faults"`
	Step          int             `json:"step,omitempty"`
	Native        *trace.PathStep `json:"native,omitempty"`
	Generic       *trace.PathStep `json:"generic,omitempty"`
}

type explainOut struct {
	File        string              `json:"file"`
	Scenario    string              `json:"scenario"`
	Line        int                 `json:"line"`
	Runs        []explainRun        `json:"runs"`
	Divergences []explainDivergence `json:"divergences,omitempty"`
}

func explain(arg string, o explainOpts, stdout io.Writer) error {
	path, line, _ := splitLine(arg)
	hs, err := parseHandlers(o.handler)
	if err != nil {
		return err
	}
	kv, err := parseKernel(o.kernel)
	if err != nil {
		return err
	}
	src, err := scenario.ReadFile(path)
	if err != nil {
		return &exitError{2, err.Error()}
	}
	s, err := scenario.Parse(path, src)
	if err != nil {
		return &exitError{2, strings.TrimRight(err.Error(), "\n")}
	}
	if line > 0 && !hasStatementAt(s, line) {
		return &exitError{2, fmt.Sprintf("%s:%d: no statement of the scenario is on that line", path, line)}
	}
	arch := o.arch
	if arch == "" {
		arch = "x86_64"
		if len(s.Arches) > 0 {
			arch = s.Arches[0]
		}
	}
	if !machine.Modeled(arch) {
		return &exitError{2, fmt.Sprintf("--arch %s: not a modeled architecture (%s)", arch, strings.Join(machine.Arches(), ", "))}
	}
	out := explainOut{File: path, Scenario: s.Name, Line: line}
	for _, h := range hs {
		rec := trace.NewRecorder(0)
		rep := runner.Run(s, arch, runner.Options{Handler: h, Kernel: kv,
			Trace: func(*scenario.Scenario, string, machine.Handler) *trace.Recorder { return rec }})
		sts := trace.Statements(rec.Events(), rec.Tracks())
		if line > 0 {
			var keep []trace.Statement
			for _, st := range sts {
				if st.Line == line {
					keep = append(keep, st)
				}
			}
			sts = keep
		}
		out.Runs = append(out.Runs, explainRun{Arch: arch, Handler: h, Kernel: rep.Kernel, Status: rep.Status,
			Reason: rep.Reason, Truncated: rec.Truncated(), Statements: sts})
	}
	if len(out.Runs) == 2 {
		out.Divergences = diverge(arch, out.Runs[0].Statements, out.Runs[1].Statements)
	}
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(out)
	}
	printExplain(stdout, out)
	return nil
}

// hasStatementAt reports whether a statement of s begins on line.
func hasStatementAt(s *scenario.Scenario, line int) bool {
	for _, st := range s.Body {
		if st.Pos.Line == line {
			return true
		}
	}
	return false
}

// diverge pairs the statements of the native and the generic run (by
// line and actor, in order) and each one's faults, and says where each
// pair of paths parts ways.
func diverge(arch string, native, generic []trace.Statement) []explainDivergence {
	var out []explainDivergence
	used := make([]bool, len(generic))
	for _, a := range native {
		var b *trace.Statement
		for j := range generic {
			if !used[j] && generic[j].Line == a.Line && generic[j].Actor == a.Actor {
				used[j], b = true, &generic[j]
				break
			}
		}
		if b == nil {
			b = &trace.Statement{}
		}
		n := max(len(a.Faults), len(b.Faults))
		for i := 0; i < n; i++ {
			d := explainDivergence{Arch: arch, Line: a.Line, Actor: a.Actor, Fault: i + 1, NativeFaults: len(a.Faults), GenericFaults: len(b.Faults)}
			var pa, pb []trace.PathStep
			if i < len(a.Faults) {
				pa = a.Faults[i].Steps
			}
			if i < len(b.Faults) {
				pb = b.Faults[i].Steps
			}
			if dv := trace.Diverge(pa, pb); dv == nil {
				d.Same = true
			} else {
				d.Step, d.Native, d.Generic = dv.Step+1, dv.A, dv.B
			}
			out = append(out, d)
		}
	}
	return out
}

// maxFaultsShown bounds the faults printed per statement: a livelock
// takes thousands, each the same.
const (
	maxFaultsShown = 6
	maxStepsShown  = 80
)

func printExplain(w io.Writer, out explainOut) {
	where := out.File
	if out.Line > 0 {
		where += ":" + strconv.Itoa(out.Line)
	}
	fmt.Fprintf(w, "%s (scenario %s)\n", where, out.Scenario)
	for ri, r := range out.Runs {
		fmt.Fprintf(w, "\n== %s, %s handler, kernel %s: %s", r.Arch, r.Handler, r.Kernel, strings.ToLower(r.Status.String()))
		if r.Reason != "" {
			fmt.Fprintf(w, " (%s)", r.Reason)
		}
		fmt.Fprintln(w)
		if r.Truncated > 0 {
			fmt.Fprintf(w, "   (the trace kept its first %d events; %d more were dropped)\n", trace.DefaultLimit, r.Truncated)
		}
		shown := 0
		for _, st := range r.Statements {
			if len(st.Faults) == 0 && out.Line == 0 {
				continue
			}
			shown++
			outcome := st.Outcome
			if outcome == "" {
				outcome = "(had not returned when the run ended)"
			}
			fmt.Fprintf(w, "\nline %d: %s  → %s\n", st.Line, st.Text, outcome)
			if len(st.Faults) == 0 {
				fmt.Fprintln(w, "  no fault")
			}
			for i, f := range st.Faults {
				if i == maxFaultsShown {
					fmt.Fprintf(w, "  … and %d more faults\n", len(st.Faults)-i)
					break
				}
				printFault(w, i+1, f)
				if ri == 1 {
					printDivergence(w, out.Divergences, st, i+1)
				}
			}
			if ri == 1 {
				for _, d := range out.Divergences {
					if d.Line == st.Line && d.Actor == st.Actor && d.Fault > len(st.Faults) && d.Fault <= maxFaultsShown {
						fmt.Fprintf(w, "  fault %d: only native took it: native %s\n", d.Fault, stepOrEnd(d.Native))
					}
				}
			}
		}
		if shown == 0 {
			fmt.Fprintln(w, "\nno statement faulted")
		}
	}
}

func printFault(w io.Writer, n int, f trace.Fault) {
	action := f.Action
	if action == "" {
		action = "(unfinished)"
	}
	fmt.Fprintf(w, "  fault %d: %s → %s\n", n, f.Access, action)
	for i, s := range f.Steps {
		if i == maxStepsShown {
			fmt.Fprintf(w, "      … and %d more steps\n", len(f.Steps)-i)
			break
		}
		fmt.Fprintf(w, "    %s%s\n", strings.Repeat("  ", s.Depth), stepText(s))
	}
	for i, s := range f.After {
		if i == maxStepsShown {
			fmt.Fprintf(w, "      … and %d more steps\n", len(f.After)-i)
			break
		}
		fmt.Fprintf(w, "  then %s\n", stepText(s))
	}
}

// stepText is one line of a path.
func stepText(s trace.PathStep) string {
	switch s.Kind {
	case trace.End:
		return "→ " + s.Detail
	case trace.Wait:
		return "schedule: sleeps, " + s.Detail
	case trace.WaitEnd:
		return "schedule: " + s.Detail
	case trace.Decide:
		return "* " + join(s.Func, s.Detail)
	}
	return join(s.Func, s.Detail)
}

func join(fn, detail string) string {
	if detail == "" {
		return fn
	}
	return fn + ": " + detail
}

// printDivergence prints, after a generic fault, where it parted from the
// native one.
func printDivergence(w io.Writer, ds []explainDivergence, st trace.Statement, fault int) {
	for _, d := range ds {
		if d.Line != st.Line || d.Actor != st.Actor || d.Fault != fault {
			continue
		}
		switch {
		case d.Same:
			fmt.Fprintln(w, "    = same path as native")
		default:
			fmt.Fprintf(w, "    ≠ parts from native at step %d: native %s; generic %s\n", d.Step, stepOrEnd(d.Native), stepOrEnd(d.Generic))
		}
		return
	}
}

func stepOrEnd(s *trace.PathStep) string {
	if s == nil {
		return "(no more steps)"
	}
	return "«" + stepText(*s) + "»"
}
