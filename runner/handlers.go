package runner

import (
	"sort"
	"strconv"
	"strings"
)

// Unexplained is the rule of a difference no rule explains.
const Unexplained = "unexplained"

// Difference is one statement whose outcome differs between a scenario's
// run on an arch's native handler and its run on the generic handler.
type Difference struct {
	Scenario string `json:"scenario"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Pos      string `json:"pos"`
	Stmt     string `json:"statement"`
	Arch     string `json:"arch"`
	Kernel   string `json:"kernel"`
	// Native and Generic are the outcomes, as check.Symbolic prints them.
	Native  string `json:"native"`
	Generic string `json:"generic"`
	// Rule is the rule responsible, as Attribute finds it: the names of
	// Rules joined by "+", or Unexplained.
	Rule  string   `json:"rule"`
	Rules []string `json:"rules,omitempty"`
	// Consequence: no rule was noted at this statement; Rules were noted
	// earlier in the native run, at NotedAt.
	Consequence bool     `json:"consequence,omitempty"`
	NotedAt     []string `json:"noted_at,omitempty"`
}

// Explained reports whether a rule of the table accounts for d.
func (d Difference) Explained() bool { return len(d.Rules) > 0 }

// Attribution is the rules held responsible for a statement's outcome on
// the native handler.
type Attribution struct {
	Rules       []string
	Consequence bool     // noted at earlier statements, not at this one
	NotedAt     []string // for a consequence: the positions they were noted at
}

// Rule is the attribution's name: its rules joined by "+", or Unexplained.
func (a Attribution) Rule() string {
	if len(a.Rules) == 0 {
		return Unexplained
	}
	return strings.Join(a.Rules, "+")
}

// Attribute finds the rules responsible for an outcome of the native run
// at statement index: the rules noted at that statement; where none was,
// every rule noted at an earlier statement of the run (the difference is
// then their consequence: a state the native path left, a fault it never
// ended); else none. native must have been run with Record.
func Attribute(native Report, index int) Attribution {
	var a Attribution
	earlier := map[string]bool{}
	for _, st := range native.Steps {
		switch {
		case st.Index == index:
			if len(st.Rules) > 0 {
				return Attribution{Rules: st.Rules}
			}
		case st.Index < index && len(st.Rules) > 0:
			for _, r := range st.Rules {
				earlier[r] = true
			}
			a.NotedAt = append(a.NotedAt, st.Pos)
		}
	}
	if len(earlier) == 0 {
		return Attribution{}
	}
	// In the table's order, as the steps list them.
	for _, st := range native.Steps {
		for _, r := range st.Rules {
			if earlier[r] {
				a.Rules = append(a.Rules, r)
				delete(earlier, r)
			}
		}
	}
	a.Consequence = true
	return a
}

// HandlerComparison is what CompareHandlers found.
type HandlerComparison struct {
	Differences []Difference
	// Compared counts the statements both runs checked.
	Compared int
	// NotCompared, when not empty, says why the runs were not compared
	// to their end: a run that was skipped, broke or timed out, on one
	// side or both. Only the statements both checked were compared.
	NotCompared string
}

// CompareHandlers compares a scenario's native and generic runs on one
// arch (both run with Record), statement by statement: only statements
// both runs checked are compared, and every outcome that differs is a
// Difference, attributed to the rules the native run noted (Attribute).
func CompareHandlers(native, generic Report) HandlerComparison {
	var c HandlerComparison
	gen := map[int]Step{}
	for _, st := range generic.Steps {
		if st.Checked {
			gen[st.Index] = st
		}
	}
	for _, ns := range native.Steps {
		gs, ok := gen[ns.Index]
		if !ns.Checked || !ok {
			continue
		}
		c.Compared++
		if ns.Observed == gs.Observed {
			continue
		}
		a := Attribute(native, ns.Index)
		kernel := native.Kernel
		if kernel == "" {
			kernel = generic.Kernel
		}
		c.Differences = append(c.Differences, Difference{
			Scenario: native.Scenario, File: native.File, Line: posLine(ns.Pos), Pos: ns.Pos, Stmt: StatementOnly(ns.Stmt),
			Arch: native.Arch, Kernel: kernel, Native: ns.Observed, Generic: gs.Observed,
			Rule: a.Rule(), Rules: a.Rules, Consequence: a.Consequence, NotedAt: a.NotedAt,
		})
	}
	c.NotCompared = notCompared(native, generic)
	return c
}

// notCompared says why a pair of runs did not run to their ends on both
// handlers, or "".
func notCompared(native, generic Report) string {
	done := func(r Report) bool { return r.Status == Pass || r.Status == Fail && r.Reason == "" }
	why := func(r Report) string {
		word := map[Status]string{Fail: "stopped", Skip: "skipped", Error: "error", TimedOut: "timed out"}[r.Status]
		return word + ": " + r.Reason
	}
	switch {
	case done(native) && done(generic):
		return ""
	case !done(native) && !done(generic) && native.Status == generic.Status && native.Reason == generic.Reason:
		return "both: " + why(native)
	case !done(native) && !done(generic):
		return "native: " + why(native) + "; generic: " + why(generic)
	case !done(native):
		return "native: " + why(native)
	}
	return "generic: " + why(generic)
}

// StatementOnly is a statement's text without its expectations: up to
// the first word that holds "=>" (the main expectation or an override).
func StatementOnly(text string) string {
	fields := strings.Fields(text)
	for i, f := range fields {
		if strings.Contains(f, "=>") {
			return strings.Join(fields[:i], " ")
		}
	}
	return strings.Join(fields, " ")
}

// posLine is the line of a FILE:LINE:COLUMN position, or 0.
func posLine(pos string) int {
	i := strings.LastIndexByte(pos, ':')
	if i < 0 {
		return 0
	}
	j := strings.LastIndexByte(pos[:i], ':')
	n, err := strconv.Atoi(pos[j+1 : i])
	if err != nil {
		return 0
	}
	return n
}

// SortDifferences orders differences by file, line, the order of arches
// given (unknown ones last, by name), then kernel version.
func SortDifferences(ds []Difference, arches []string) {
	order := map[string]int{}
	for i, a := range arches {
		order[a] = i + 1
	}
	rank := func(a string) int {
		if r, ok := order[a]; ok {
			return r
		}
		return len(arches) + 1
	}
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		switch {
		case a.File != b.File:
			return a.File < b.File
		case a.Line != b.Line:
			return a.Line < b.Line
		case a.Arch != b.Arch && rank(a.Arch) != rank(b.Arch):
			return rank(a.Arch) < rank(b.Arch)
		case a.Arch != b.Arch:
			return a.Arch < b.Arch
		}
		return a.Kernel < b.Kernel
	})
}
