package trace

// A recorded run read back as people ask about it: the statements of the
// scenario, each with the faults it took, each fault with its path.

// PathStep is one line of a fault's path.
type PathStep struct {
	Seq uint64 `json:"seq"`
	// Depth is the nesting under the fault: 0 for its own steps, 1 inside
	// its handle_mm_fault, and so on.
	Depth  int    `json:"depth"`
	Kind   Kind   `json:"kind"`
	Func   string `json:"func"`
	Detail string `json:"detail,omitempty"`
}

// Fault is one fault: a trap and what the handler did about it.
type Fault struct {
	Actor string `json:"actor"`
	// Access is the fault as trapped ("read 0x7f0000001000, user mode").
	Access string `json:"access"`
	// Action is what the trap handler decided (restart, fixup, oops,
	// emulated, livelock); empty when the run ended inside the fault.
	Action string     `json:"action"`
	Steps  []PathStep `json:"steps"`
	// After are the steps of the fault's task once the trap handler
	// returned, up to its next fault or the end of its statement: the
	// signal delivered on the way back to user mode, the sleep of a
	// task that gave up on the access.
	After []PathStep `json:"after,omitempty"`
}

// Statement is one statement the run dispatched to an actor, with the
// faults its actor took while running it.
type Statement struct {
	Line  int    `json:"line"`
	Actor string `json:"actor"`
	Text  string `json:"statement"`
	// Outcome is what the statement returned, as the runner prints it;
	// empty when it had not returned when the run ended.
	Outcome string  `json:"outcome"`
	Faults  []Fault `json:"faults"`
}

// Phase names of the runner and the kernel: a statement, and a fault.
const (
	PhaseStatement = "statement"
	PhaseFault     = "fault"
)

// Statements reads events back as the statements of a run and their
// faults, in the order the statements began. A fault outside any
// statement (none is, in a scenario run) is listed under a statement of
// line 0.
func Statements(events []Event, tracks []string) []Statement {
	type open struct {
		ev    Event
		stmt  int // index in out of the statement it belongs to, or -1
		fault int // index in that statement's faults, for a fault phase
	}
	var out []Statement
	stacks := map[int][]open{}
	faultOf := func(st []open) (stmt, fault, depth int) {
		for i := len(st) - 1; i >= 0; i-- {
			if st[i].ev.Func == PhaseFault && st[i].fault >= 0 {
				return st[i].stmt, st[i].fault, len(st) - 1 - i
			}
		}
		return -1, -1, 0
	}
	stmtOf := func(st []open) int {
		for i := len(st) - 1; i >= 0; i-- {
			if st[i].ev.Func == PhaseStatement {
				return st[i].stmt
			}
		}
		return -1
	}
	name := func(id int) string {
		if id >= 0 && id < len(tracks) {
			return tracks[id]
		}
		return ""
	}
	for _, e := range events {
		st := stacks[e.Track]
		switch {
		case e.Kind == Begin && e.Func == PhaseStatement:
			out = append(out, Statement{Line: e.Line, Actor: name(e.Track), Text: e.Detail})
			stacks[e.Track] = append(st, open{ev: e, stmt: len(out) - 1, fault: -1})
			continue
		case e.Kind == Begin && e.Func == PhaseFault:
			si := stmtOf(st)
			if si < 0 {
				out = append(out, Statement{Actor: name(e.Track)})
				si = len(out) - 1
			}
			out[si].Faults = append(out[si].Faults, Fault{Actor: name(e.Track), Access: e.Detail})
			stacks[e.Track] = append(st, open{ev: e, stmt: si, fault: len(out[si].Faults) - 1})
			continue
		case e.Kind == End && len(st) > 0:
			top := st[len(st)-1]
			stacks[e.Track] = st[:len(st)-1]
			switch {
			case top.ev.Func == PhaseStatement:
				out[top.stmt].Outcome = e.Detail
				continue
			case top.ev.Func == PhaseFault && top.fault >= 0:
				out[top.stmt].Faults[top.fault].Action = e.Detail
				continue
			}
			// The end of a phase inside a fault: a step of its own,
			// at the depth of its begin.
			if si, fi, depth := faultOf(stacks[e.Track]); fi >= 0 {
				f := &out[si].Faults[fi]
				f.Steps = append(f.Steps, PathStep{Seq: e.Seq, Depth: depth, Kind: End, Func: e.Func, Detail: e.Detail})
			}
			continue
		case e.Kind == Wake:
			continue // told on the sleeper's side, as its wait's end
		}
		si, fi, depth := faultOf(st)
		if fi < 0 {
			// Outside any fault: after the last one of the statement,
			// what its return to user mode did.
			if si := stmtOf(st); si >= 0 && len(out[si].Faults) > 0 && len(st) == 1 {
				f := &out[si].Faults[len(out[si].Faults)-1]
				f.After = append(f.After, PathStep{Seq: e.Seq, Kind: e.Kind, Func: e.Func, Detail: e.Detail})
			}
			continue
		}
		f := &out[si].Faults[fi]
		f.Steps = append(f.Steps, PathStep{Seq: e.Seq, Depth: depth, Kind: e.Kind, Func: e.Func, Detail: e.Detail})
		if e.Kind == Begin {
			stacks[e.Track] = append(st, open{ev: e, stmt: si, fault: -1})
		}
	}
	return out
}

// Divergence is where two handlers' paths for the same fault part ways.
type Divergence struct {
	// Step is the index, among the steps compared, of the first that
	// differs; A and B are those steps (nil where a path ended first).
	Step int       `json:"step"`
	A    *PathStep `json:"native,omitempty"`
	B    *PathStep `json:"generic,omitempty"`
}

// Compared reports whether a step takes part in a comparison of two
// handlers' paths: a handler's own decoding (Decide) does not, since the
// handlers are written differently there even where they agree; what
// they then do (the signal queued, the fixup, the next step) does.
func (s PathStep) Compared() bool { return s.Kind != Decide }

// Diverge returns where the paths a and b of one fault part ways, or nil
// when every compared step is the same (function, detail and nesting).
func Diverge(a, b []PathStep) *Divergence {
	ca, cb := compared(a), compared(b)
	for i := 0; ; i++ {
		switch {
		case i >= len(ca) && i >= len(cb):
			return nil
		case i >= len(ca):
			return &Divergence{Step: i, B: &cb[i]}
		case i >= len(cb):
			return &Divergence{Step: i, A: &ca[i]}
		case ca[i].Func != cb[i].Func || ca[i].Detail != cb[i].Detail || ca[i].Depth != cb[i].Depth || ca[i].Kind != cb[i].Kind:
			return &Divergence{Step: i, A: &ca[i], B: &cb[i]}
		}
	}
}

func compared(s []PathStep) []PathStep {
	var out []PathStep
	for _, p := range s {
		if p.Compared() {
			out = append(out, p)
		}
	}
	return out
}
