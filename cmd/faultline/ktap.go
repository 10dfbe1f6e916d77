package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/faultline/faultline/conform"
	"github.com/faultline/faultline/runner"
)

// ktapHelp is the paragraph of run's and conform's help on --ktap.
const ktapHelp = `--ktap prints the results as KTAP version 1, the Kernel Test Anything
Protocol that kselftest and KernelCI read
(https://docs.kernel.org/dev-tools/ktap.html): a version line, a plan
1..N, then one test per scenario, "ok N NAME" or "not ok N NAME", with
"# SKIP reason", "# ERROR reason" and "# TIMEOUT reason" directives, and
the details of a failure as diagnostic lines ("# ...") before its result
line. A file with errors is a test of its own, "not ok N FILE # ERROR".
The rest of the text output (the host, the summary) becomes diagnostic
lines, ending with kselftest's "# Totals:" line.`

// ktapWriter writes KTAP version 1 to w: the header and the plan, then
// results in order. Results of files that failed before the plan was known
// wait in pending until begin writes it.
type ktapWriter struct {
	w       io.Writer
	begun   bool
	next    int       // number of the next top-level test
	pending []pending // what was written before begin
	rest    *diagWriter
	// The totals line counts what each result was (kselftest's
	// ksft_print_cnts).
	pass, fail, skip, errs int
}

// pending is a block of lines written before the plan: a test's, or
// diagnostics.
type pending struct {
	block string
	test  bool
}

// ktapOut sets up --ktap (when on) for a command that writes its text to
// stdout: the KTAP writer, and the writer for the rest of the text, which
// becomes diagnostic lines. Off, it is nil and stdout: every method of a
// nil *ktapWriter does nothing.
func ktapOut(on bool, stdout io.Writer) (*ktapWriter, io.Writer) {
	if !on {
		return nil, stdout
	}
	k := &ktapWriter{w: stdout, next: 1}
	k.rest = &diagWriter{k: k}
	return k, k.rest
}

// begin writes the version line and the plan: n tests besides those
// already pending (files with errors), then what was pending.
func (k *ktapWriter) begin(n int) {
	if k == nil || k.begun {
		return
	}
	k.begun = true
	for _, p := range k.pending {
		if p.test {
			n++
		}
	}
	fmt.Fprintf(k.w, "KTAP version 1\n1..%d\n", n)
	for _, p := range k.pending {
		io.WriteString(k.w, p.block)
	}
	k.pending = nil
}

// emit writes a block of lines, or keeps it until begin.
func (k *ktapWriter) emit(block string, test bool) {
	if !k.begun {
		k.pending = append(k.pending, pending{block, test})
		return
	}
	io.WriteString(k.w, block)
}

// ktapDesc makes s a test description: one line, no "#" (which starts
// the directive).
func ktapDesc(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "#", "_")
}

// ktapData makes s the data of a directive: one line.
func ktapData(s string) string { return strings.Join(strings.Fields(s), " ") }

// resultLine is "ok N desc", with " # DIRECTIVE data" when directive is
// set, indented by indent levels of two spaces.
func resultLine(b *strings.Builder, indent int, ok bool, n int, desc, directive, data string) {
	b.WriteString(strings.Repeat("  ", indent))
	if !ok {
		b.WriteString("not ")
	}
	fmt.Fprintf(b, "ok %d %s", n, ktapDesc(desc))
	if directive != "" {
		b.WriteString(" # " + directive)
		if d := ktapData(data); d != "" {
			b.WriteString(" " + d)
		}
	}
	b.WriteByte('\n')
}

// diagLines writes text as diagnostic lines, indented; blank lines are
// left out.
func diagLines(b *strings.Builder, indent int, text string) {
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		fmt.Fprintf(b, "%s# %s\n", strings.Repeat("  ", indent), strings.TrimRight(line, " \t\r"))
	}
}

// fileError is the test of a file that could not be read or parsed: not
// ok, # ERROR, with its error lines as diagnostics.
func (k *ktapWriter) fileError(name string, lines []string) {
	if k == nil {
		return
	}
	var b strings.Builder
	diagLines(&b, 0, strings.Join(lines, "\n"))
	first := ""
	if len(lines) > 0 {
		first = lines[0]
	}
	resultLine(&b, 0, false, k.next, name, "ERROR", first)
	k.next++
	k.errs++
	k.emit(b.String(), true)
}

// scenario writes one scenario of run: a subtest per architecture and
// handler, then the scenario's result. It fails if a subtest failed,
// broke or timed out, and is skipped if every subtest was.
func (k *ktapWriter) scenario(name string, reps []runner.Report) {
	if k == nil {
		return
	}
	var b strings.Builder
	b.WriteString("  KTAP version 1\n")
	fmt.Fprintf(&b, "  1..%d\n", len(reps))
	bad, skipped := false, 0
	var skipWhy []string
	for i, r := range reps {
		desc := r.Arch + "/" + r.Handler.String()
		switch r.Status {
		case runner.Pass:
			resultLine(&b, 1, true, i+1, desc, "", "")
		case runner.Skip:
			skipped++
			if len(skipWhy) == 0 || skipWhy[len(skipWhy)-1] != r.Reason {
				skipWhy = append(skipWhy, r.Reason)
			}
			resultLine(&b, 1, true, i+1, desc, "SKIP", r.Reason)
		case runner.Fail:
			bad = true
			var d bytes.Buffer
			printReport(&d, r)
			diagLines(&b, 1, d.String())
			resultLine(&b, 1, false, i+1, desc, "", "")
		case runner.TimedOut:
			bad = true
			resultLine(&b, 1, false, i+1, desc, "TIMEOUT", r.Reason)
		default: // runner.Error
			bad = true
			resultLine(&b, 1, false, i+1, desc, "ERROR", r.Reason)
		}
	}
	switch {
	case bad:
		k.fail++
		resultLine(&b, 0, false, k.next, name, "", "")
	case skipped == len(reps):
		k.skip++
		resultLine(&b, 0, true, k.next, name, "SKIP", strings.Join(skipWhy, "; "))
	default:
		k.pass++
		resultLine(&b, 0, true, k.next, name, "", "")
	}
	k.next++
	k.emit(b.String(), true)
}

// conform writes one scenario of conform: ok when the three agree (the
// generic model's differences by a rule as diagnostics), not ok for a
// disagreement (its statements as diagnostics), an error or a timeout,
// SKIP with the reason.
func (k *ktapWriter) conform(r conform.Result) {
	if k == nil {
		return
	}
	var b strings.Builder
	if len(r.Diffs)+len(r.Generic) > 0 || r.GenericNote != "" {
		var d bytes.Buffer
		printConform(&d, r)
		diagLines(&b, 0, d.String())
	}
	switch r.Class {
	case conform.Agree:
		k.pass++
		resultLine(&b, 0, true, k.next, r.Scenario, "", "")
	case conform.Skipped:
		k.skip++
		resultLine(&b, 0, true, k.next, r.Scenario, "SKIP", r.Reason)
	case conform.TimedOut:
		k.errs++
		resultLine(&b, 0, false, k.next, r.Scenario, "TIMEOUT", r.Reason)
	case conform.Broken:
		k.errs++
		resultLine(&b, 0, false, k.next, r.Scenario, "ERROR", r.Reason)
	default:
		k.fail++
		resultLine(&b, 0, false, k.next, r.Scenario, "", "")
	}
	k.next++
	k.emit(b.String(), true)
}

// end writes what is left of the diagnostics and kselftest's totals
// line, after the plan if nothing wrote it.
func (k *ktapWriter) end() {
	if k == nil {
		return
	}
	k.rest.flush()
	k.begin(0)
	fmt.Fprintf(k.w, "# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:%d\n", k.pass, k.fail, k.skip, k.errs)
}

// diagWriter turns what is written to it into diagnostic lines: the text
// output that has no place in KTAP's structure (the host, the summary).
type diagWriter struct {
	k    *ktapWriter
	part []byte
}

func (d *diagWriter) Write(p []byte) (int, error) {
	d.part = append(d.part, p...)
	for {
		i := bytes.IndexByte(d.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		d.line(string(d.part[:i]))
		d.part = d.part[i+1:]
	}
}

func (d *diagWriter) line(s string) {
	var b strings.Builder
	diagLines(&b, 0, s)
	if b.Len() > 0 {
		d.k.emit(b.String(), false)
	}
}

// flush writes what is left of the last line.
func (d *diagWriter) flush() {
	if len(d.part) > 0 {
		d.line(string(d.part))
		d.part = nil
	}
}

// loadErrorPath is the path a load error names ("stat PATH: ...",
// "PATH: ..."), the name of its test.
func loadErrorPath(e string) string {
	for _, op := range []string{"stat ", "open ", "lstat ", "read "} {
		if rest, ok := strings.CutPrefix(e, op); ok {
			e = rest
			break
		}
	}
	if i := strings.Index(e, ": "); i > 0 {
		return e[:i]
	}
	return e
}
