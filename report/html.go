package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"

	"github.com/faultline/faultline/stream"
)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"classID": func(class string) string { return strings.ReplaceAll(class, " ", "-") },
}).Parse(pageHTML))

// The view the template renders: everything computed here, so that the
// template only lays it out.
type (
	view struct {
		Sources  []string
		Problems []string
		Classes  []string
		Matrix   []matrixRow
		Conform  []conformView
		Diffs    []diffView
	}
	matrixRow struct {
		ID, Arch, Kernel, Where, Model string
		Cells                          []countCell
		GenericByRule, Scenarios       int
	}
	countCell struct {
		Class string
		N     int
		Bad   bool // a class that fails the run, with scenarios in it
	}
	conformView struct {
		ID, Heading, Where string
		Config             string
		Missing, Notes     []string
		Disagreements      []scenarioView
		ByRule             []scenarioView
		Skipped            []skipGroup
		Agree              int
		Errors             []*stream.Error
	}
	scenarioView struct {
		Class, Scenario, File, Reason, GenericNote string
		Rows                                       []statementRow
		Generic                                    []genericRow
	}
	statementRow struct {
		Pos, Statement                  string
		Expected, Host, Model, Generic  string
		HostOK, ModelOK, GenericMatches bool
		HasGeneric                      bool
		Explain                         string
	}
	genericRow struct {
		Pos, Statement, Host, Generic, Rule string
		Documented, Consequence             bool
		Explain                             string
	}
	skipGroup struct {
		Reason    string
		Scenarios []string
	}
	diffView struct {
		ID, Heading      string
		Arches           []string
		Rules            []ruleRow
		Groups           []diffGroupView
		NotCompared      []*stream.NotCompared
		Errors           []*stream.Error
		Summary          *stream.DiffSummary
		Total, Unexplain int
	}
	ruleRow struct {
		Rule  string
		Cells []int
		Total int
	}
	diffGroupView struct {
		ID, Arch, Kernel string
		Rows             []diffRow
		Unexplained      int
	}
	diffRow struct {
		Scenario, Pos, Statement, Native, Generic, Rule string
		Explained, Consequence                          bool
		NotedAt                                         string
		Explain                                         string
	}
)

// failing are the classes that make conform fail.
var failing = map[string]bool{"model wrong": true, "expectation wrong": true, "generic unexplained": true, "error": true, "timed out": true}

// where names a conform run's kernel: the host's, or a guest's package.
func where(h stream.Host) string {
	if h.Guest == nil {
		return "this machine's kernel"
	}
	var pk []string
	for _, p := range h.Guest.Packages {
		pk = append(pk, p.Name+" "+p.Version)
	}
	s := "qemu guest, Debian " + h.Guest.Suite
	if len(pk) > 0 {
		s += ": " + strings.Join(pk, ", ")
	}
	return s
}

// Write writes the page as one HTML document.
func (p *Page) Write(w io.Writer) error {
	p.check()
	v := view{Sources: p.Sources, Problems: p.Problems, Classes: stream.ClassNames}
	for i, c := range p.Conform {
		id := fmt.Sprintf("conform-%d", i)
		counts := c.Counts()
		row := matrixRow{ID: id, Arch: c.Host.Arch, Kernel: c.Host.Kernel, Where: where(c.Host), Model: c.Host.Model,
			GenericByRule: c.GenericByRule(), Scenarios: len(c.Scenarios)}
		for _, class := range stream.ClassNames {
			row.Cells = append(row.Cells, countCell{Class: class, N: counts[class], Bad: failing[class] && counts[class] > 0})
		}
		v.Matrix = append(v.Matrix, row)
		v.Conform = append(v.Conform, conformRunView(id, c, counts))
	}
	for i, d := range p.Diffs {
		v.Diffs = append(v.Diffs, diffRunView(fmt.Sprintf("diff-%d", i), d))
	}
	return page.Execute(w, v)
}

func conformRunView(id string, c *ConformRun, counts map[string]int) conformView {
	cv := conformView{ID: id, Heading: c.Host.Arch + " · Linux " + c.Host.Kernel, Where: where(c.Host), Notes: c.Host.Notes,
		Agree: counts["agree"], Errors: c.Errors}
	var keys []string
	for k := range c.Host.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var cfg []string
	for _, k := range keys {
		cfg = append(cfg, k+"="+c.Host.Config[k])
	}
	cv.Config = strings.Join(cfg, " ")
	keys = keys[:0]
	for k := range c.Host.Missing {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cv.Missing = append(cv.Missing, k+": "+c.Host.Missing[k])
	}
	handler := c.Host.Model
	if handler == "" {
		handler = "native"
	}
	// The model ran at the kernel's version (a guest's 6.1, say), which
	// faultline explain models only when told.
	kernel := c.Host.Config["kernel"]
	skips := map[string][]string{}
	for _, s := range c.Scenarios {
		if s.Class == "skipped" {
			skips[s.Reason] = append(skips[s.Reason], s.Scenario)
			continue
		}
		sv := scenarioView{Class: s.Class, Scenario: s.Scenario, File: s.File, Reason: s.Reason, GenericNote: s.GenericNote}
		for _, d := range s.Diffs {
			r := statementRow{Pos: d.Pos, Statement: d.Statement, Expected: d.Expected.Text, Host: d.Host.Text, Model: d.Model.Text,
				HostOK: d.HostOK, ModelOK: d.ModelOK, Explain: Explain(d.File, d.Line, s.Arch, handler, kernel)}
			switch {
			case d.Generic != nil:
				r.HasGeneric, r.Generic, r.GenericMatches = true, d.Generic.Text, d.Generic.Text == d.Host.Text
			case handler == "generic": // the generic model stood in for the native one: it is the model
				r.HasGeneric, r.Generic, r.GenericMatches = true, d.Model.Text, d.Model.Text == d.Host.Text
			}
			sv.Rows = append(sv.Rows, r)
		}
		for _, g := range s.Generic {
			sv.Generic = append(sv.Generic, genericRow{Pos: g.Pos, Statement: g.Statement, Host: g.Host.Text, Generic: g.Generic.Text,
				Rule: g.Rule, Documented: g.Documented, Consequence: g.Consequence, Explain: Explain(g.File, g.Line, s.Arch, "both", kernel)})
		}
		switch {
		case s.Class != "agree":
			cv.Disagreements = append(cv.Disagreements, sv)
		case len(sv.Generic) > 0:
			cv.ByRule = append(cv.ByRule, sv)
		}
	}
	for reason, names := range skips {
		cv.Skipped = append(cv.Skipped, skipGroup{Reason: reason, Scenarios: names})
	}
	sort.Slice(cv.Skipped, func(i, j int) bool {
		a, b := cv.Skipped[i], cv.Skipped[j]
		if len(a.Scenarios) != len(b.Scenarios) {
			return len(a.Scenarios) > len(b.Scenarios)
		}
		return a.Reason < b.Reason
	})
	return cv
}

func diffRunView(id string, d *DiffRun) diffView {
	dv := diffView{ID: id, Heading: "faultline diff (" + d.Source + ")", NotCompared: d.NotCompared, Errors: d.Errors, Summary: d.Summary,
		Total: len(d.Differences)}
	if d.Summary != nil {
		dv.Arches = d.Summary.Arches
		if d.Summary.Kernel != "" {
			dv.Heading += ", kernel " + d.Summary.Kernel
		}
	}
	for _, x := range d.Differences {
		if !containsString(dv.Arches, x.Arch) {
			dv.Arches = append(dv.Arches, x.Arch)
		}
	}
	m := d.matrix()
	for _, r := range rules(m) {
		row := ruleRow{Rule: r}
		for _, a := range dv.Arches {
			n := m[r][a]
			row.Cells = append(row.Cells, n)
			row.Total += n
		}
		dv.Rules = append(dv.Rules, row)
	}
	for i, g := range d.groups() {
		gv := diffGroupView{ID: fmt.Sprintf("%s-%d", id, i), Arch: g.Arch, Kernel: g.Kernel}
		for _, x := range g.Differences {
			row := diffRow{Scenario: x.Scenario, Pos: x.Pos, Statement: x.Statement, Native: x.Native.Text, Generic: x.Generic.Text,
				Rule: x.Rule, Explained: len(x.Rules) > 0, Consequence: x.Consequence, NotedAt: strings.Join(x.NotedAt, ", "),
				Explain: Explain(x.File, x.Line, x.Arch, "both", x.Kernel)}
			if !row.Explained {
				gv.Unexplained++
				dv.Unexplain++
			}
			gv.Rows = append(gv.Rows, row)
		}
		dv.Groups = append(dv.Groups, gv)
	}
	return dv
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
