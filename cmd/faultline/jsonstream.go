package main

import (
	"encoding/json"
	"io"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/conform"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/stream"
)

// jsonHelp is the paragraph of run's, conform's and diff's help on --json.
const jsonHelp = `--json prints a stream instead: one JSON object per line, each with a
"type" (host, scenario, difference, not_compared, error, summary) and the
"command" that printed it, with outcomes and file positions as fields;
the last line is the summary. docs/json.md describes every field
(faultline report turns conform and diff streams into an HTML page).`

// fileErrorLines writes each file error as an error line.
func fileErrorLines(w *stream.Writer, command string, errs []string) error {
	for _, e := range errs {
		l := stream.ParseFileError(e)
		l.Command = command
		if err := w.Write(l); err != nil {
			return err
		}
	}
	return nil
}

// posOf reads a scenario position, or gives none.
func posOf(pos string) stream.Position {
	p, _ := stream.ParsePosition(pos)
	return p
}

// runLine is a run report as a scenario line.
func runLine(r runner.Report) stream.RunScenario {
	l := stream.RunScenario{Type: stream.TypeScenario, Command: stream.CommandRun, Scenario: r.Scenario, File: r.File, Arch: r.Arch,
		Handler: r.Handler.String(), Kernel: r.Kernel, Statements: r.Statements, Checked: r.Checked, Reason: r.Reason,
		Rules: r.Rules, DurationNS: r.Duration.Nanoseconds()}
	st, _ := r.Status.MarshalText()
	l.Status = string(st)
	for _, f := range r.Failures {
		l.Failures = append(l.Failures, stream.Failure{Position: posOf(f.Pos), Pos: f.Pos, Statement: f.Stmt,
			Expected: stream.ParseOutcome(f.Expected), Actual: stream.ParseOutcome(f.Actual), Note: f.Note})
	}
	return l
}

// runSummaryLine is run's summary as the last line.
func runSummaryLine(sum summary) stream.RunSummary {
	conv := func(c counts) stream.Counts {
		return stream.Counts{Runs: c.Runs, Passed: c.Passed, Failed: c.Failed, Skipped: c.Skipped, Errors: c.Errors, TimedOut: c.TimedOut, Checked: c.Checked}
	}
	l := stream.RunSummary{Type: stream.TypeSummary, Command: stream.CommandRun, Scenarios: sum.Scenarios, Counts: conv(sum.counts),
		Handlers: map[string]stream.Counts{}, FileErrors: sum.FileErrors, Seconds: sum.Seconds}
	for h, c := range sum.Handlers {
		l.Handlers[h] = conv(c)
	}
	return l
}

// configMap is a configuration as its keys and values.
func configMap(k config.Kernel) map[string]string {
	m := map[string]string{}
	for _, name := range config.Keys() {
		m[name], _ = k.Get(name)
	}
	return m
}

// hostLine is the host conform ran on, as the first line.
func hostLine(h *conform.Host) stream.Host {
	l := stream.Host{Type: stream.TypeHost, Command: stream.CommandConform, Arch: h.Arch, Kernel: h.Kernel, Root: h.Root,
		Model: "native", Config: configMap(h.Config), Missing: h.Missing, Notes: h.Notes}
	if !conform.NativeModeled(h.Arch, h.Config) {
		l.Model = "generic"
	}
	if b, err := json.Marshal(h); err == nil {
		l.Detail = b
	}
	return l
}

// conformLine is a conform result as a scenario line; kernel is the
// release it ran on.
func conformLine(r conform.Result, kernel string) stream.ConformScenario {
	l := stream.ConformScenario{Type: stream.TypeScenario, Command: stream.CommandConform, Scenario: r.Scenario, File: r.File,
		Arch: r.Arch, Kernel: kernel, Model: r.Model, Class: r.Class.String(), Reason: r.Reason, GenericNote: r.GenericNote,
		DurationNS: r.Duration.Nanoseconds(), HostDurationNS: r.HostDuration.Nanoseconds()}
	for _, d := range r.Diffs {
		x := stream.Disagreement{Position: posOf(d.Pos), Pos: d.Pos, Statement: d.Stmt, Expected: stream.ParseOutcome(d.Expected),
			Host: stream.ParseOutcome(d.Host), Model: stream.ParseOutcome(d.Model), HostOK: d.HostOK, ModelOK: d.ModelOK}
		if d.Generic != "" {
			g := stream.ParseOutcome(d.Generic)
			x.Generic = &g
		}
		l.Diffs = append(l.Diffs, x)
	}
	for _, g := range r.Generic {
		l.Generic = append(l.Generic, stream.GenericDifference{Position: posOf(g.Pos), Pos: g.Pos, Statement: g.Stmt,
			Host: stream.ParseOutcome(g.Host), Generic: stream.ParseOutcome(g.Generic), Rule: g.Rule, Consequence: g.Consequence, Documented: g.Documented})
	}
	return l
}

// conformSummaryLine is conform's summary as the last line.
func conformSummaryLine(sum conformSummary, arch, kernel string, scenarios int) stream.ConformSummary {
	sum.Type, sum.Command, sum.Arch, sum.Kernel, sum.Scenarios = stream.TypeSummary, stream.CommandConform, arch, kernel, scenarios
	return sum
}

// writeConformStream writes a whole conform stream: the host, each
// result, the file errors, the summary.
func writeConformStream(stdout io.Writer, host stream.Host, results []conform.Result, fileErrs []string, sum conformSummary) error {
	w := stream.NewWriter(stdout)
	if err := w.Write(host); err != nil {
		return err
	}
	if err := fileErrorLines(w, stream.CommandConform, fileErrs); err != nil {
		return err
	}
	for _, r := range results {
		if err := w.Write(conformLine(r, host.Kernel)); err != nil {
			return err
		}
	}
	return w.Write(conformSummaryLine(sum, host.Arch, host.Kernel, len(results)))
}

// differenceLine is a diff difference as a line.
func differenceLine(x runner.Difference) stream.Difference {
	p := posOf(x.Pos)
	if p.File == "" {
		p = stream.Position{File: x.File, Line: x.Line}
	}
	return stream.Difference{Type: stream.TypeDifference, Command: stream.CommandDiff, Scenario: x.Scenario, Position: p, Pos: x.Pos,
		Statement: x.Stmt, Arch: x.Arch, Kernel: x.Kernel, Native: stream.ParseOutcome(x.Native), Generic: stream.ParseOutcome(x.Generic),
		Rule: x.Rule, Rules: x.Rules, Consequence: x.Consequence, NotedAt: x.NotedAt}
}

// printJSON writes diff's stream: the file errors, each difference, each
// scenario not compared, the summary.
func (d *diffRun) printJSON(stdout io.Writer) error {
	w := stream.NewWriter(stdout)
	if err := fileErrorLines(w, stream.CommandDiff, d.fileErrs); err != nil {
		return err
	}
	for _, x := range d.diffs {
		if err := w.Write(differenceLine(x)); err != nil {
			return err
		}
	}
	for _, n := range d.notCompared {
		if err := w.Write(stream.NotCompared{Type: stream.TypeNotCompared, Command: stream.CommandDiff, Scenario: n.Scenario, File: n.File,
			Arch: n.Arch, Kernel: n.Kernel, Reason: n.Reason, Compared: n.Compared}); err != nil {
			return err
		}
	}
	sum := stream.DiffSummary{Type: stream.TypeSummary, Command: stream.CommandDiff, Arches: d.arches, Scenarios: d.scenarios, Pairs: d.pairs,
		Compared: d.compared, ComparedByArch: d.byArch, Differences: len(d.diffs), Consequences: d.consequences(), Unexplained: d.unexplained(),
		NotCompared: len(d.notCompared), TimedOut: d.timedOut, FileErrors: len(d.fileErrs), Matrix: map[string]map[string]int{}}
	if sum.ComparedByArch == nil {
		sum.ComparedByArch = map[string]int{}
	}
	if d.kernel != nil {
		sum.Kernel = d.kernel.String()
	}
	for rule, byArch := range d.matrix() {
		row := map[string]int{}
		for a, n := range byArch {
			if n > 0 {
				row[a] = n
			}
		}
		if len(row) > 0 {
			sum.Matrix[rule] = row
		}
	}
	return w.Write(sum)
}
