package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/arch"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/timeout"
)

// reportCommand is the command that writes docs/conversion-report.md.
const reportCommand = "go run ./cmd/faultline diff --markdown > docs/conversion-report.md"

func newDiffCmd(stdout, stderr io.Writer) *cobra.Command {
	var only, kernel string
	var asJSON, markdown bool
	var b bounds
	var sel selection
	cmd := &cobra.Command{
		Use:   "diff [PATH...]",
		Short: "List every outcome that converting an architecture to the generic handler changes",
		Long: `Run scenario files, or every .fault file under the given directories
(default: the corpus built into the binary; -run REGEX keeps the
scenarios whose name matches, "-" reads one from standard input), on the
native handler and on
the generic handler of each architecture each scenario names (--arch
narrows), and list every statement whose outcome differs: the scenario,
FILE:LINE, the architecture, the kernel version, the native and the
generic outcome, and the rule of the conversion table responsible.

The rule responsible is the one the native handler noted while the
statement ran (the path where the arch departs from the generic handler).
A difference at a statement where no rule was noted is attributed to the
rules noted earlier in the same run, as their consequence; one with no
rule at all is unexplained: a bug of a model, or a rule the table lacks.
Only statements both runs checked are compared: a scenario that was
skipped, broke or timed out on either handler is listed under "not
compared", with the reason.

Each scenario runs at its own kernel version (6.18 unless it pins
another, as config kernel=6.1); --kernel V runs every scenario at V and
lists one that pins another as not compared.

The text output lists the differences, then a matrix of rule ×
architecture with the number of differences each rule explains. --json
prints a stream of JSON objects, one per line: a "difference" object per
difference (scenario, file, line, column, arch, kernel, native, generic
and rule, the outcomes as objects), a "not_compared" one per scenario
not compared, an "error" one per file error, and the "summary" last
(docs/json.md); --markdown prints the report to attach to a conversion
series: a summary, the rule table, the matrix, the differences grouped by
rule and what was not compared (docs/conversion-report.md is this on the
corpus: ` + reportCommand + `).
The output is sorted and has no timings: the same files give the same
report.

Exit status: 0 when every difference is explained, 1 when one is not, 2
when a file has errors or a run timed out.`,
		Example: `  faultline diff
  faultline diff --arch riscv64 --kernel 6.1
  faultline diff --json scenarios/ | jq -r 'select(.type == "difference") | .rule' | sort | uniq -c
  faultline diff --markdown > report.md`,
		RunE: func(cmd *cobra.Command, args []string) error {
			defer tuneGCForCorpus()()
			if asJSON && markdown {
				return &exitError{2, "--json and --markdown: choose one"}
			}
			if only != "" && !slices.Contains(scenario.KnownArches, only) {
				return &exitError{2, fmt.Sprintf("--arch %s: not an architecture of the language (%s)", only, strings.Join(scenario.KnownArches, ", "))}
			}
			kv, err := parseKernel(kernel)
			if err != nil {
				return err
			}
			scale, err := b.timeoutScale(cmd)
			if err != nil {
				return err
			}
			files, loadErrs, err := loadSelected(args, cmd.InOrStdin(), &sel)
			if err != nil {
				return err
			}
			format := diffText
			switch {
			case asJSON:
				format = diffJSON
			case markdown:
				format = diffMarkdown
			}
			d := runDiff(files, loadErrs, only, kv, scale, stderr, format != diffText)
			d.source = "the files given"
			if len(args) == 0 {
				d.source = "the built-in corpus"
			}
			if sel.pattern != "" {
				d.source = "the scenarios of " + d.source + " whose names match `-run " + sel.pattern + "`"
			}
			if err := d.print(stdout, stderr, format); err != nil {
				return err
			}
			return d.exit()
		},
	}
	cmd.Flags().StringVar(&only, "arch", "", "compare only on this architecture")
	cmd.Flags().StringVar(&kernel, "kernel", "", "model kernel `VERSION` (MAJOR.MINOR) for every scenario; list those pinning another as not compared")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON stream, one object per line (docs/json.md)")
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print the report as Markdown")
	b.registerScale(cmd)
	sel.register(cmd)
	return cmd
}

type diffFormat int

const (
	diffText diffFormat = iota
	diffJSON
	diffMarkdown
)

// uncompared is a scenario and arch whose runs were not compared to their
// end.
type uncompared struct {
	Scenario string `json:"scenario"`
	File     string `json:"file"`
	Arch     string `json:"arch"`
	Kernel   string `json:"kernel,omitempty"`
	Reason   string `json:"reason"`
	Compared int    `json:"compared"` // statements compared before it stopped
}

// diffRun is what a diff found.
type diffRun struct {
	source      string // what was run, for the report's summary
	arches      []string
	kernel      *config.Version
	diffs       []runner.Difference
	notCompared []uncompared
	scenarios   int
	pairs       int            // scenario × arch pairs run
	compared    int            // statements compared
	byArch      map[string]int // statements compared, per arch
	timedOut    int
	fileErrs    []string
}

// runDiff runs every scenario on both handlers of each arch. File errors
// go to stderr unless quiet (they are printed with the report).
func runDiff(files []source, loadErrs []string, only string, kv *config.Version, scale timeout.Scale, stderr io.Writer, quiet bool) *diffRun {
	d := &diffRun{kernel: kv, fileErrs: append([]string{}, loadErrs...), byArch: map[string]int{}}
	if !quiet {
		for _, e := range loadErrs {
			fmt.Fprintln(stderr, e)
		}
	}
	for _, a := range machine.Arches() {
		if only == "" || a == only {
			d.arches = append(d.arches, a)
		}
	}
	if only != "" && len(d.arches) == 0 {
		d.arches = []string{only}
	}
	// Each scenario and arch is one job: its two runs, compared. Jobs run
	// on every CPU; the results are gathered in job order and sorted, so
	// the report does not depend on which ended first.
	type job struct {
		s        *scenario.Scenario
		file     string
		arch     string
		c        runner.HandlerComparison
		kernel   string
		timedOut bool
	}
	var jobs []job
	for _, f := range files {
		s := parseOrReport(f, quiet, stderr, &d.fileErrs)
		if s == nil {
			continue
		}
		d.scenarios++
		run, notModeled := runner.Arches(s, only)
		for _, a := range run {
			jobs = append(jobs, job{s: s, file: f.name, arch: a})
		}
		for _, a := range notModeled {
			d.pairs++
			d.notCompared = append(d.notCompared, uncompared{Scenario: s.Name, File: f.name, Arch: a, Kernel: kernelOf(s, kv), Reason: "architecture not modeled yet"})
		}
	}
	prog := startProgressOf(stderr, "faultline diff", len(jobs), "scenario × arch pairs")
	inOrder(len(jobs), 0, func(i int) {
		j := &jobs[i]
		opts := runner.Options{Record: true, Kernel: kv, Scale: scale}
		opts.Handler = machine.Native
		nat := runner.Run(j.s, j.arch, opts)
		opts.Handler = machine.Generic
		gen := runner.Run(j.s, j.arch, opts)
		j.kernel = nat.Kernel
		if j.kernel == "" {
			j.kernel = gen.Kernel
		}
		j.c, j.timedOut = runner.CompareHandlers(nat, gen), nat.Status == runner.TimedOut || gen.Status == runner.TimedOut
	}, func(i int) {
		prog.step(nil)
		j := jobs[i]
		d.pairs++
		if j.timedOut {
			d.timedOut++
		}
		d.compared += j.c.Compared
		d.byArch[j.arch] += j.c.Compared
		d.diffs = append(d.diffs, j.c.Differences...)
		if j.c.NotCompared != "" {
			d.notCompared = append(d.notCompared, uncompared{Scenario: j.s.Name, File: j.file, Arch: j.arch, Kernel: j.kernel, Reason: j.c.NotCompared, Compared: j.c.Compared})
		}
	})
	prog.end()
	runner.SortDifferences(d.diffs, d.arches)
	order := archOrder(d.arches)
	sort.SliceStable(d.notCompared, func(i, j int) bool {
		a, b := d.notCompared[i], d.notCompared[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return order(a.Arch) < order(b.Arch)
	})
	return d
}

// kernelOf is the kernel version s would run at: kv, else its pin, else
// the default.
func kernelOf(s *scenario.Scenario, kv *config.Version) string {
	if kv != nil {
		return kv.String()
	}
	cfg := config.Default()
	for _, pin := range s.Config {
		_ = cfg.Set(pin.Key, pin.Value) // a bad pin is the run's error, reported there
	}
	return cfg.Version.String()
}

// archOrder ranks arches as listed, unknown ones after them by name.
func archOrder(arches []string) func(string) string {
	return func(a string) string {
		if i := slices.Index(arches, a); i >= 0 {
			return fmt.Sprintf("%03d", i)
		}
		return "999" + a
	}
}

// unexplained counts the differences no rule explains.
func (d *diffRun) unexplained() int {
	n := 0
	for _, x := range d.diffs {
		if !x.Explained() {
			n++
		}
	}
	return n
}

// consequences counts the differences attributed to earlier rules.
func (d *diffRun) consequences() int {
	n := 0
	for _, x := range d.diffs {
		if x.Consequence {
			n++
		}
	}
	return n
}

// exit is how diff ends: 2 for file errors or a run that timed out, 1 for
// an unexplained difference.
func (d *diffRun) exit() error {
	switch {
	case len(d.fileErrs) > 0:
		return &exitError{code: 2}
	case d.timedOut > 0:
		return timedOut(d.timedOut, "comparison")
	case d.unexplained() > 0:
		return &exitError{1, fmt.Sprintf("%s that no rule explains", plural(d.unexplained(), "difference"))}
	}
	return nil
}

// matrixRows are the rows of the rule × arch matrix: every rule of the
// table, then unexplained.
func matrixRows() []string {
	var rows []string
	for _, r := range arch.Rules() {
		rows = append(rows, r.Name)
	}
	return append(rows, runner.Unexplained)
}

// matrix counts the differences each rule explains on each arch; a
// difference two rules share counts for both.
func (d *diffRun) matrix() map[string]map[string]int {
	m := map[string]map[string]int{}
	for _, row := range matrixRows() {
		m[row] = map[string]int{}
	}
	for _, x := range d.diffs {
		rules := x.Rules
		if len(rules) == 0 {
			rules = []string{runner.Unexplained}
		}
		for _, r := range rules {
			if m[r] == nil {
				m[r] = map[string]int{} // a rule the table no longer has
			}
			m[r][x.Arch]++
		}
	}
	return m
}

func (d *diffRun) print(stdout, stderr io.Writer, f diffFormat) error {
	switch f {
	case diffJSON:
		return d.printJSON(stdout)
	case diffMarkdown:
		d.printMarkdown(stdout)
		for _, e := range d.fileErrs {
			fmt.Fprintln(stderr, e)
		}
	default:
		d.printText(stdout)
	}
	return nil
}

// summaryLine is the one-line count of a diff.
func (d *diffRun) summaryLine() string {
	s := fmt.Sprintf("%s (%s, %d unexplained) in %s compared; %s of %s, %d not compared",
		plural(len(d.diffs), "difference"), plural(d.consequences(), "consequence"), d.unexplained(), plural(d.compared, "statement"),
		plural(d.pairs, "scenario × arch pair"), plural(d.scenarios, "scenario"), len(d.notCompared))
	if n := len(d.fileErrs); n > 0 {
		s += "; " + plural(n, "file error")
	}
	return s
}

// ruleText describes a difference's rule.
func ruleText(x runner.Difference) string {
	switch {
	case !x.Explained():
		return runner.Unexplained + " (no rule was noted in the native run)"
	case x.Consequence:
		return fmt.Sprintf("%s (a consequence: noted at %s)", x.Rule, strings.Join(x.NotedAt, ", "))
	}
	return x.Rule
}

func (d *diffRun) printText(w io.Writer) {
	for _, x := range d.diffs {
		fmt.Fprintf(w, "DIFF  %-8s %-5s %s\n", x.Arch, x.Kernel, x.Scenario)
		fmt.Fprintf(w, "      %s: %s\n", x.Pos, x.Stmt)
		fmt.Fprintf(w, "        native:  %s\n", x.Native)
		fmt.Fprintf(w, "        generic: %s\n", x.Generic)
		fmt.Fprintf(w, "        rule:    %s\n", ruleText(x))
	}
	if len(d.diffs) > 0 {
		fmt.Fprintln(w)
	}
	m := d.matrix()
	width := len("rule")
	for row := range m {
		width = max(width, len(row))
	}
	fmt.Fprintf(w, "%-*s", width, "rule")
	for _, a := range d.arches {
		fmt.Fprintf(w, "  %7s", a)
	}
	fmt.Fprintln(w)
	for _, row := range d.rows(m) {
		fmt.Fprintf(w, "%-*s", width, row)
		for _, a := range d.arches {
			fmt.Fprintf(w, "  %7d", m[row][a])
		}
		fmt.Fprintln(w)
	}
	if len(d.notCompared) > 0 {
		fmt.Fprintln(w)
		d.printNotCompared(w)
	}
	fmt.Fprintf(w, "\n%s\n", d.summaryLine())
}

// rows are the matrix's rows in order: the table's, then unexplained,
// then any rule a run noted that the table does not name, by name.
func (d *diffRun) rows(m map[string]map[string]int) []string {
	rows := matrixRows()
	var extra []string
	for r := range m {
		if !slices.Contains(rows, r) {
			extra = append(extra, r)
		}
	}
	sort.Strings(extra)
	return append(rows, extra...)
}

func (d *diffRun) printNotCompared(w io.Writer) {
	if len(d.notCompared) == 0 {
		return
	}
	fmt.Fprintf(w, "not compared (%d):\n", len(d.notCompared))
	for _, n := range d.notCompared {
		fmt.Fprintf(w, "  %-8s %-5s %s: %s", n.Arch, n.Kernel, n.Scenario, n.Reason)
		if n.Compared > 0 {
			fmt.Fprintf(w, " (%s compared before)", plural(n.Compared, "statement"))
		}
		fmt.Fprintln(w)
	}
}

// mdCell makes s safe in a Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// mdCode is s as inline code in a table cell.
func mdCode(s string) string {
	if s == "" {
		return ""
	}
	return "`" + mdCell(s) + "`"
}

func (d *diffRun) printMarkdown(w io.Writer) {
	kernel := "each scenario's own (6.18 unless it pins `config kernel=`)"
	if d.kernel != nil {
		kernel = d.kernel.String()
	}
	fmt.Fprintln(w, "# What converting to the generic page-fault handler changes")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Generated by `faultline diff --markdown` on %s; do not edit (`%s` regenerates it, and the tests of cmd/faultline fail when it is stale).\n", d.source, reportCommand)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every scenario ran on each architecture's native handler (its own `arch/*/mm/fault.c`, as Linux has it) and on the generic handler (the architecture converted), and every statement both runs checked was compared. A difference is attributed to the rule of the conversion table the native handler noted while the statement ran; one at a statement where none was noted, to the rules noted earlier in the run (a consequence); one with no rule at all is unexplained.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Summary")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- architectures: %s; kernel: %s\n", strings.Join(d.arches, ", "), kernel)
	fmt.Fprintf(w, "- %s, %s, %s compared\n", plural(d.scenarios, "scenario"), plural(d.pairs, "scenario × arch pair"), plural(d.compared, "statement"))
	fmt.Fprintf(w, "- %s: %d explained by a rule at the statement, %s of a rule noted earlier, %d unexplained\n",
		plural(len(d.diffs), "difference"), len(d.diffs)-d.consequences()-d.unexplained(), plural(d.consequences(), "consequence"), d.unexplained())
	for _, a := range d.arches {
		n := 0
		for _, x := range d.diffs {
			if x.Arch == a {
				n++
			}
		}
		fmt.Fprintf(w, "- %s: %s compared, %s\n", a, plural(d.byArch[a], "statement"), plural(n, "difference"))
	}
	fmt.Fprintf(w, "- not compared: %d (listed at the end)\n", len(d.notCompared))
	if n := len(d.fileErrs); n > 0 {
		fmt.Fprintf(w, "- %s\n", plural(n, "file error"))
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## The rules")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| rule | arches | kernels | native (today) | generic | reason | source |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range arch.Rules() {
		versions := "all"
		if r.Before != (config.Version{}) {
			versions = "before " + r.Before.String()
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", mdCode(r.Name), mdCell(strings.Join(r.Arches, ", ")), versions,
			mdCell(r.Native), mdCell(r.Generic), mdCell(r.Reason), mdCell(r.Source))
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Differences by rule and architecture")
	fmt.Fprintln(w)
	m := d.matrix()
	fmt.Fprint(w, "| rule |")
	for _, a := range d.arches {
		fmt.Fprintf(w, " %s |", a)
	}
	fmt.Fprint(w, "\n| --- |")
	for range d.arches {
		fmt.Fprint(w, " ---: |")
	}
	fmt.Fprintln(w)
	for _, row := range d.rows(m) {
		fmt.Fprintf(w, "| %s |", mdCode(row))
		for _, a := range d.arches {
			fmt.Fprintf(w, " %d |", m[row][a])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## The differences")
	byRule := map[string][]runner.Difference{}
	for _, x := range d.diffs {
		byRule[x.Rule] = append(byRule[x.Rule], x)
	}
	var keys []string
	for k := range byRule {
		keys = append(keys, k)
	}
	rank := func(k string) int {
		first, _, _ := strings.Cut(k, "+")
		if r := arch.ByName(first); r != nil {
			return int(r.ID)
		}
		return 1 << 10
	}
	sort.Slice(keys, func(i, j int) bool {
		if rank(keys[i]) != rank(keys[j]) {
			return rank(keys[i]) < rank(keys[j])
		}
		return keys[i] < keys[j]
	})
	if len(keys) == 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "None.")
	}
	for _, k := range keys {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "### %s (%d)\n\n", mdCell(k), len(byRule[k]))
		fmt.Fprintln(w, "| scenario | statement | arch | kernel | native | generic | noted |")
		fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
		for _, x := range byRule[k] {
			noted := "at the statement"
			switch {
			case !x.Explained():
				noted = "nowhere"
			case x.Consequence:
				noted = "earlier: " + strings.Join(x.NotedAt, ", ")
			}
			fmt.Fprintf(w, "| %s | %s %s | %s | %s | %s | %s | %s |\n", mdCell(x.Scenario), mdCell(fmt.Sprintf("%s:%d", x.File, x.Line)), mdCode(x.Stmt),
				x.Arch, x.Kernel, mdCode(x.Native), mdCode(x.Generic), mdCell(noted))
		}
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Not compared")
	fmt.Fprintln(w)
	if len(d.notCompared) == 0 {
		fmt.Fprintln(w, "None: every scenario ran to its end on both handlers.")
		return
	}
	fmt.Fprintln(w, "Scenarios that were skipped, broke or timed out on either handler: only the statements both runs checked before that were compared.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| scenario | arch | kernel | compared | reason |")
	fmt.Fprintln(w, "| --- | --- | --- | ---: | --- |")
	for _, n := range d.notCompared {
		fmt.Fprintf(w, "| %s | %s | %s | %d | %s |\n", mdCell(n.Scenario), n.Arch, n.Kernel, n.Compared, mdCell(n.Reason))
	}
}
