// Package report turns the JSON streams of faultline conform and
// faultline diff (package stream) into one self-contained HTML page: per
// architecture and kernel the agreement matrix, the conversion
// differences by rule, and each disagreement and difference with its
// statement, its outcomes side by side and the faultline explain command
// that shows its path. The page needs no network: its CSS and script are
// inline, and it reads as a document without the script.
package report

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/faultline/faultline/stream"
)

// Page is what the streams read so far hold.
type Page struct {
	Sources  []string
	Conform  []*ConformRun
	Diffs    []*DiffRun
	Problems []string // what was odd about a stream (cut short, counts that do not add up)
}

// ConformRun is one conform stream: one kernel (the host's or a guest's).
type ConformRun struct {
	Source    string
	Host      stream.Host
	Scenarios []*stream.ConformScenario
	Errors    []*stream.Error
	Summary   *stream.ConformSummary
}

// DiffRun is one diff stream.
type DiffRun struct {
	Source      string
	Differences []*stream.Difference
	NotCompared []*stream.NotCompared
	Errors      []*stream.Error
	Summary     *stream.DiffSummary
}

// Add reads one stream, named name, into the page. A file may hold
// several streams one after another (cat a.json b.json): a host line
// starts a conform stream, a summary ends one. A line that is not of a
// conform or diff stream is an error, and so is one of a conform stream
// before its host line.
func (p *Page) Add(name string, r io.Reader) error {
	p.Sources = append(p.Sources, name)
	var cr *ConformRun
	var dr *DiffRun
	var pendingErrs []*stream.Error // error lines before a stream's first line (diff prints them first)
	err := stream.Read(r, name, func(rec stream.Record) error {
		bad := func(msg string) error { return &stream.ReadError{Name: name, Line: rec.Line, Msg: msg} }
		switch v := rec.Value.(type) {
		case nil:
			return nil // a type of a newer faultline
		case *stream.Host:
			if cr != nil && cr.Summary == nil {
				p.Problems = append(p.Problems, fmt.Sprintf("%s: the conform stream of %s %s before line %d has no summary: it was cut short", name, cr.Host.Arch, cr.Host.Kernel, rec.Line))
			}
			cr = &ConformRun{Source: name, Host: *v, Errors: pendingErrs}
			pendingErrs = nil
			p.Conform = append(p.Conform, cr)
		case *stream.ConformScenario:
			if cr == nil || cr.Summary != nil {
				return bad("a conform scenario line before its stream's host line")
			}
			cr.Scenarios = append(cr.Scenarios, v)
		case *stream.ConformSummary:
			if cr == nil || cr.Summary != nil {
				return bad("a conform summary line before its stream's host line")
			}
			cr.Summary = v
		case *stream.Error:
			switch {
			case v.Command == stream.CommandConform && cr != nil && cr.Summary == nil:
				cr.Errors = append(cr.Errors, v)
			case v.Command == stream.CommandDiff && dr != nil && dr.Summary == nil:
				dr.Errors = append(dr.Errors, v)
			case v.Command == stream.CommandRun:
				return bad("a line of faultline run: report reads the streams of conform and diff")
			default:
				pendingErrs = append(pendingErrs, v)
			}
		case *stream.Difference, *stream.NotCompared, *stream.DiffSummary:
			if dr == nil || dr.Summary != nil {
				dr = &DiffRun{Source: name}
				p.Diffs = append(p.Diffs, dr)
				for _, e := range pendingErrs {
					if e.Command == stream.CommandDiff {
						dr.Errors = append(dr.Errors, e)
					}
				}
				pendingErrs = nil
			}
			switch v := v.(type) {
			case *stream.Difference:
				dr.Differences = append(dr.Differences, v)
			case *stream.NotCompared:
				dr.NotCompared = append(dr.NotCompared, v)
			case *stream.DiffSummary:
				dr.Summary = v
			}
		default:
			return bad(fmt.Sprintf("a %s line of faultline %s: report reads the streams of conform and diff", rec.Head.Type, rec.Head.Command))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if cr != nil && cr.Summary == nil {
		p.Problems = append(p.Problems, fmt.Sprintf("%s: the conform stream of %s %s has no summary: it was cut short", name, cr.Host.Arch, cr.Host.Kernel))
	}
	if dr != nil && dr.Summary == nil {
		p.Problems = append(p.Problems, name+": the diff stream has no summary: it was cut short")
	}
	if len(pendingErrs) > 0 {
		for _, e := range pendingErrs {
			p.Problems = append(p.Problems, name+": "+e.Text)
		}
	}
	return nil
}

// Counts are a conform run's scenarios counted by class, from its
// scenario lines.
func (c *ConformRun) Counts() map[string]int {
	m := map[string]int{}
	for _, s := range c.Scenarios {
		m[s.Class]++
	}
	return m
}

// GenericByRule counts the statements where the generic model differs
// from the kernel by a rule.
func (c *ConformRun) GenericByRule() int {
	n := 0
	for _, s := range c.Scenarios {
		for _, g := range s.Generic {
			if g.Documented {
				n++
			}
		}
	}
	return n
}

// check notes where a run's lines and its summary disagree.
func (p *Page) check() {
	for _, c := range p.Conform {
		if c.Summary == nil {
			continue
		}
		counts := c.Counts()
		for _, class := range stream.ClassNames {
			if n := c.Summary.ByClass(class); n != counts[class] {
				p.Problems = append(p.Problems, fmt.Sprintf("%s: %s %s: the summary counts %d %s, the stream has %d such scenario lines", c.Source, c.Host.Arch, c.Host.Kernel, n, class, counts[class]))
			}
		}
	}
	for _, d := range p.Diffs {
		if d.Summary != nil && d.Summary.Differences != len(d.Differences) {
			p.Problems = append(p.Problems, fmt.Sprintf("%s: the summary counts %d differences, the stream has %d", d.Source, d.Summary.Differences, len(d.Differences)))
		}
	}
}

// Explain is the command that shows the path of the fault at a
// statement (FILE:LINE) on arch with handler (native, generic, both), the
// model at kernel version kernel (MAJOR.MINOR; empty: the scenario's
// own), as faultline explain takes them.
// Without a position there is no command: "".
func Explain(file string, line int, arch, handler, kernel string) string {
	if file == "" || line <= 0 {
		return ""
	}
	s := fmt.Sprintf("faultline explain %s:%d --arch %s --handler %s", shellWord(file), line, arch, handler)
	if kernel != "" {
		s += " --kernel " + shellWord(kernel)
	}
	return s
}

// shellWord quotes s for a POSIX shell where it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./+,=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// diffGroup is the differences of one arch and kernel.
type diffGroup struct {
	Arch, Kernel string
	Differences  []*stream.Difference
}

// groups are d's differences by arch and kernel, in the order of the
// summary's arches, kernels by version.
func (d *DiffRun) groups() []diffGroup {
	idx := map[[2]string]int{}
	var out []diffGroup
	for _, x := range d.Differences {
		k := [2]string{x.Arch, x.Kernel}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, diffGroup{Arch: x.Arch, Kernel: x.Kernel})
		}
		out[i].Differences = append(out[i].Differences, x)
	}
	var arches []string
	if d.Summary != nil {
		arches = d.Summary.Arches
	}
	rank := func(a string) int {
		if i := slices.Index(arches, a); i >= 0 {
			return i
		}
		return len(arches)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if r := cmp.Compare(rank(a.Arch), rank(b.Arch)); r != 0 {
			return r < 0
		}
		if a.Arch != b.Arch {
			return a.Arch < b.Arch
		}
		return versionLess(a.Kernel, b.Kernel)
	})
	return out
}

// versionLess orders MAJOR.MINOR versions numerically.
func versionLess(a, b string) bool {
	var am, an, bm, bn int
	fmt.Sscanf(a, "%d.%d", &am, &an)
	fmt.Sscanf(b, "%d.%d", &bm, &bn)
	if am != bm {
		return am < bm
	}
	if an != bn {
		return an < bn
	}
	return a < b
}

// matrix counts the differences each rule explains, by arch, as diff
// counts them: a difference two rules share counts for both.
func (d *DiffRun) matrix() map[string]map[string]int {
	m := map[string]map[string]int{}
	for _, x := range d.Differences {
		rules := x.Rules
		if len(rules) == 0 {
			rules = []string{"unexplained"}
		}
		for _, r := range rules {
			if m[r] == nil {
				m[r] = map[string]int{}
			}
			m[r][x.Arch]++
		}
	}
	return m
}

// rules are the rows of matrix m: the rules by count, then unexplained.
func rules(m map[string]map[string]int) []string {
	var rows []string
	total := map[string]int{}
	for r, byArch := range m {
		rows = append(rows, r)
		for _, n := range byArch {
			total[r] += n
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		ui, uj := rows[i] == "unexplained", rows[j] == "unexplained"
		if ui != uj {
			return uj
		}
		if total[rows[i]] != total[rows[j]] {
			return total[rows[i]] > total[rows[j]]
		}
		return rows[i] < rows[j]
	})
	return rows
}
