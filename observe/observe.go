// Package observe prints a scenario back with the outcomes its runs
// observed written as its expectations, as herd7 lists the states it
// observed: each run (an arch and a handler on the model, or the host
// kernel) records every statement's outcome in the scenario's own terms
// (check.Writable), and Rewrite folds them into one line per statement,
// the main expectation and the ARCH=>, generic=> and ARCH+generic=>
// overrides that give every run its outcome. Only the lines whose
// outcome the file does not already state exactly are rewritten, and of
// those only the expectations: comments and layout stay.
package observe

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
)

// Input is what Rewrite folds: a scenario file and the recorded runs of
// it (runner.Options.Record, or a host run).
type Input struct {
	Src      []byte             // the file as read
	Scenario *scenario.Scenario // Src parsed
	Reports  []runner.Report    // the runs; each one's Arch and Handler name its cell
	// Kernel is the version the runs modeled or ran: the expectations of
	// the runs that were not made are read at it.
	Kernel config.Version
	// Notes are comment lines to add at the top (without "# ").
	Notes []string
}

// notePrefix starts the comment lines Rewrite adds at the end.
const notePrefix = "# observe: "

// cell is one run the file's expectations speak of.
type cell struct {
	arch    string
	handler machine.Handler
}

func (c cell) String() string { return c.arch + " " + c.handler.String() }

// seen is what one run observed of one statement.
type seen struct {
	written string
	exact   bool // the expectation says exactly this
	ok      bool // the expectation held (Match)
}

// Rewrite returns the file with the observed outcomes as its
// expectations, and a note at the end (where it moves no line) for every
// run that did not run to its end: the statements it did not run keep
// what the file says of them. A statement's line is rewritten when a run
// observed an outcome its expectation does not state exactly. The runs
// not made (another arch or handler than those asked, an arch not
// modeled) keep the outcome the file gives them, unless the runs made
// only sharpened the expectation they share (inPlace); and a converted
// arch's generic handler, where the file gives it no outcome of its own,
// follows its native handler's observed outcome. The new outcomes go
// into the line's own expectations where they can (inPlace), else the
// line's expectations are folded anew at Kernel (fold), dropping its
// kernel-range overrides.
func Rewrite(in Input) []byte {
	s := in.Scenario
	arches := s.Arches
	if len(arches) == 0 {
		arches = machine.Arches()
	}
	var cells []cell
	for _, a := range arches {
		for _, h := range machine.Handlers() {
			cells = append(cells, cell{a, h})
		}
	}
	obs := map[cell]map[int]seen{}
	notes := append([]string(nil), in.Notes...)
	for _, rep := range in.Reports {
		c := cell{rep.Arch, rep.Handler}
		m := map[int]seen{}
		for _, st := range rep.Steps {
			if st.Checked {
				m[st.Index] = seen{st.Written, st.Exact, st.OK}
			}
		}
		obs[c] = m
		if rep.Status != runner.Pass && rep.Status != runner.Fail || rep.Reason != "" {
			notes = append(notes, fmt.Sprintf("%s: %s: %s (the statements it did not run keep their expectations)",
				c, strings.ToLower(rep.Status.String()), rep.Reason))
		}
	}

	lines := strings.SplitAfter(string(in.Src), "\n")
	for i, st := range s.Body {
		rewrite := false
		for _, c := range cells {
			if o, ok := obs[c][i]; ok && !o.exact {
				rewrite = true
			}
		}
		if !rewrite {
			continue
		}
		n := st.Pos.Line - 1
		if n < 0 || n >= len(lines) {
			continue
		}
		line, end := cutEnd(lines[n])
		code, comment := cutComment(line)
		groups := parseGroups(code)
		want := map[cell]string{}
		for _, c := range cells {
			if o, ok := obs[c][i]; ok {
				want[c] = o.written
				continue
			}
			key := winner(st, c, in.Kernel)
			if c.handler == machine.Generic && !isGenericKey(key) {
				if o, ok := obs[cell{c.arch, machine.Native}][i]; ok {
					want[c] = o.written // follows its native handler
					continue
				}
			}
			want[c] = groups.text[key]
		}
		// The keys every run they cover found exact, and those every run
		// found to hold (a sharper outcome only).
		exact, held := map[string]bool{}, map[string]bool{}
		for _, c := range cells {
			if o, ok := obs[c][i]; ok {
				k := winner(st, c, in.Kernel)
				if e, seen := exact[k]; !seen || e {
					exact[k] = o.exact
				}
				if h, seen := held[k]; !seen || h {
					held[k] = o.ok
				}
			}
		}
		follows := map[cell]bool{} // runs not made that take what the runs made show
		for _, c := range cells {
			if _, run := obs[c][i]; !run && held[winner(st, c, in.Kernel)] {
				follows[c] = true
			}
		}
		exp, ok := inPlace(st, cells, want, follows, exact, groups, in.Kernel)
		if !ok {
			var ran []string // the arches whose native handler ran it
			for _, a := range arches {
				if _, run := obs[cell{a, machine.Native}][i]; run {
					ran = append(ran, a)
				}
			}
			exp = fold(arches, ran, want, st)
		}
		lines[n] = edit(code, comment, groups.col, exp) + end
	}
	// The notes of an earlier observe go: these runs say what is true now.
	for len(lines) > 0 && (lines[len(lines)-1] == "" || strings.HasPrefix(lines[len(lines)-1], notePrefix)) {
		lines = lines[:len(lines)-1]
	}
	var b bytes.Buffer
	b.WriteString(strings.Join(lines, ""))
	if len(notes) > 0 && b.Len() > 0 && !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
		b.WriteByte('\n')
	}
	for _, n := range notes {
		b.WriteString(notePrefix + strings.ReplaceAll(n, "\n", " ") + "\n")
	}
	return b.Bytes()
}

// inPlace writes the new outcomes into the line's own expectations where
// each expectation that gives some run its outcome at kernel v gives all
// those runs one outcome: the line keeps its structure, and the
// overrides that hold for no run made (other kernel ranges, other
// arches), and those every run they cover found exact, stay as written.
// The runs not made count where the
// expectation they take held on every run made that takes it (the new
// text only says more): there they take the new text too. It reports
// false where the runs an expectation covers now differ, for fold to
// rebuild the line.
func inPlace(st *scenario.Stmt, cells []cell, want map[cell]string, follows map[cell]bool, exact map[string]bool, g groups, v config.Version) ([]string, bool) {
	winners := map[string]string{}
	for _, c := range cells {
		if follows[c] {
			continue
		}
		k := winner(st, c, v)
		val := want[c]
		if k == "" && val == "" {
			val = "ok"
		}
		if w, seen := winners[k]; seen && w != val {
			return nil, false
		}
		winners[k] = val
	}
	var out []string
	if _, has := g.text[""]; !has && len(g.keys) == 0 {
		if w := winners[""]; w != "ok" && w != "" {
			out = append(out, "=> "+w)
		}
	}
	for i, k := range g.keys {
		if w, ok := winners[k]; ok && !exact[k] {
			out = append(out, g.arrows[i]+" "+w)
		} else {
			out = append(out, g.arrows[i]+" "+g.text[k])
		}
	}
	return out, true
}

// winner is the key of the expectation the file gives st on cell c at
// kernel v: "" for the main one (or none), else the override's key.
func winner(st *scenario.Stmt, c cell, v config.Version) string {
	o := st.ExpectFor(c.arch, c.handler == machine.Generic, v)
	for k, ov := range st.Overrides {
		if ov == o && o != nil {
			return k
		}
	}
	return ""
}

// isGenericKey reports whether an override key names the generic handler.
func isGenericKey(key string) bool {
	sel, err := scenario.ParseSelector(key)
	return err == nil && key != "" && sel.Generic
}

// fold chooses the expectations that give every cell its outcome: the
// main one is the native outcome most arches share (the first arch's on a
// tie; of the arches ran, whose native handler ran the statement, where
// there are some), an ARCH=> override each arch whose native outcome differs; then,
// where that leaves generic handlers with other outcomes, a generic=>
// override if it saves overrides, and ARCH+generic=> for the rest. It
// returns the groups in the order they are written.
func fold(arches, ran []string, want map[cell]string, st *scenario.Stmt) []string {
	norm := func(s string) string {
		if s == "" {
			if _, faults := st.Op.(*scenario.Faults); !faults {
				return "ok"
			}
		}
		return s
	}
	native := map[string]string{}
	generic := map[string]string{}
	for _, a := range arches {
		native[a] = norm(want[cell{a, machine.Native}])
		generic[a] = norm(want[cell{a, machine.Generic}])
	}
	main := mode(arches, native)
	if len(ran) > 0 {
		main = mode(ran, native) // what was run, rather than what the file said
	}
	var out []string
	out = append(out, "=> "+main)
	dflt := map[string]string{}
	for _, a := range arches {
		dflt[a] = main
		if native[a] != main {
			dflt[a] = native[a]
			out = append(out, a+"=> "+native[a])
		}
	}
	// The generic=> value that leaves the fewest ARCH+generic=> overrides.
	best, bestCost := "", 0
	for _, a := range arches {
		if generic[a] != dflt[a] {
			bestCost++
		}
	}
	for _, a := range arches {
		v, cost := generic[a], 1
		for _, b := range arches {
			if generic[b] != v {
				cost++
			}
		}
		if cost < bestCost {
			best, bestCost = v, cost
		}
	}
	if best != "" {
		out = append(out, scenario.Generic+"=> "+best)
		for _, a := range arches {
			dflt[a] = best
		}
	}
	for _, a := range arches {
		if generic[a] != dflt[a] {
			out = append(out, scenario.OverrideKey(a, true)+"=> "+generic[a])
		}
	}
	if len(out) == 1 && main == "" {
		return nil // a baseline
	}
	return out
}

// mode is the value most arches have in m, the first arch's on a tie.
func mode(arches []string, m map[string]string) string {
	best, n := "", 0
	for _, a := range arches {
		c := 0
		for _, b := range arches {
			if m[b] == m[a] {
				c++
			}
		}
		if c > n {
			best, n = m[a], c
		}
	}
	return best
}

// cutEnd splits a line from its line ending.
func cutEnd(line string) (string, string) {
	body := strings.TrimRight(line, "\r\n")
	return body, line[len(body):]
}

// cutComment splits a statement line at its comment (body statements
// take no quoted strings, where a # would not start one).
func cutComment(line string) (string, string) {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		return line[:i], line[i:]
	}
	return line, ""
}

// groups are a line's expectations as written.
type groups struct {
	col    int               // byte offset of the first arrow; -1: none
	text   map[string]string // by canonical key ("" the main one): the outcome's words
	keys   []string          // the canonical keys in the order written
	arrows []string          // the arrows as written ("=>", "arm64=>")
}

// parseGroups finds the expectations of a statement's code.
func parseGroups(code string) groups {
	g := groups{col: -1, text: map[string]string{}}
	key, have := "", false
	var words []string
	flush := func() {
		if have {
			g.text[key] = strings.Join(words, " ")
		}
		words = nil
	}
	for i := 0; i < len(code); {
		if code[i] == ' ' || code[i] == '\t' {
			i++
			continue
		}
		j := i
		for j < len(code) && code[j] != ' ' && code[j] != '\t' {
			j++
		}
		w := code[i:j]
		switch {
		case strings.HasSuffix(w, "=>"):
			flush()
			if g.col < 0 {
				g.col = i
			}
			key, have = strings.TrimSuffix(w, "=>"), true
			if sel, err := scenario.ParseSelector(key); err == nil && key != "" {
				key = sel.String()
			}
			g.keys, g.arrows = append(g.keys, key), append(g.arrows, w)
		case have:
			words = append(words, w)
		}
		i = j
	}
	flush()
	return g
}

// edit writes a statement line with the expectations exp in place of
// those it had (at the same column, where it had some), its comment at
// the same column where the line leaves room.
func edit(code, comment string, col int, exp []string) string {
	var head string
	if col >= 0 {
		head = code[:col]
		if strings.TrimRight(head, " \t") == head {
			head += " "
		}
	} else {
		head = strings.TrimRight(code, " \t") + " "
	}
	line := head + strings.Join(exp, "   ")
	if len(exp) == 0 {
		line = strings.TrimRight(head, " \t")
	}
	if comment == "" {
		return line
	}
	if at := len(code); len(line) < at {
		return line + strings.Repeat(" ", at-len(line)) + comment
	}
	return line + "  " + comment
}
