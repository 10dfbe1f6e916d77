package trace

import (
	"encoding/json"
	"io"
)

// Run is one recorded run, for a trace file: its name (the process's, in
// the viewer) and its recorder.
type Run struct {
	Name string
	Rec  *Recorder
}

// ChromeEvent is one event of the Chrome trace-event format, which the
// Perfetto UI and chrome://tracing open ("traceEvents" array form).
type ChromeEvent struct {
	Name string  `json:"name"`
	Cat  string  `json:"cat,omitempty"`
	Ph   string  `json:"ph"`
	Ts   float64 `json:"ts"`
	Pid  int     `json:"pid"`
	Tid  int     `json:"tid"`
	// S is an instant event's scope ("t": the thread).
	S string `json:"s,omitempty"`
	// ID pairs a flow's start ("s") and finish ("f"); Bp "e" binds the
	// finish to the slice enclosing it.
	ID   uint64         `json:"id,omitempty"`
	Bp   string         `json:"bp,omitempty"`
	Args map[string]any `json:"args,omitempty"`
}

// ChromeFile is a trace file: the events and what the viewer should know.
type ChromeFile struct {
	TraceEvents     []ChromeEvent  `json:"traceEvents"`
	DisplayTimeUnit string         `json:"displayTimeUnit"`
	OtherData       map[string]any `json:"otherData"`
}

// Clock is what a trace file's timestamps are, said in its metadata.
const Clock = "logical: ts is the model's own event order (Seq × 10 µs), not wall-clock time"

// Chrome converts runs to the trace-event format: a process per run, a
// thread (track) per actor, a B/E slice per statement, per fault and per
// phase within (handle_mm_fault), a slice per sleep, instant events for
// the steps, and a flow from each wakeup to the end of the sleep it
// ended. Timestamps are the logical clock (Clock): ten microseconds per
// event, so that a sleep's end and the flow finishing in it are apart.
func Chrome(runs []Run) ChromeFile {
	f := ChromeFile{DisplayTimeUnit: "ns", OtherData: map[string]any{"clock": Clock, "generator": "faultline run --trace"}, TraceEvents: []ChromeEvent{}}
	flowID := uint64(0)
	for i, r := range runs {
		pid := i + 1
		f.TraceEvents = append(f.TraceEvents, ChromeEvent{Name: "process_name", Ph: "M", Pid: pid, Args: map[string]any{"name": r.Name}})
		for tid, name := range r.Rec.Tracks() {
			f.TraceEvents = append(f.TraceEvents, ChromeEvent{Name: "thread_name", Ph: "M", Pid: pid, Tid: tid + 1, Args: map[string]any{"name": name}})
		}
		if n := r.Rec.Truncated(); n > 0 {
			f.TraceEvents = append(f.TraceEvents, ChromeEvent{Name: "truncated", Ph: "i", S: "g", Pid: pid, Args: map[string]any{"dropped_events": n}})
		}
		base := flowID
		for _, e := range r.Rec.Events() {
			ts := float64(e.Seq * 10)
			ce := ChromeEvent{Name: e.Func, Cat: "fault", Ts: ts, Pid: pid, Tid: e.Track + 1}
			args := map[string]any{}
			if e.Detail != "" {
				args["detail"] = e.Detail
			}
			if e.Line > 0 {
				args["line"] = e.Line
			}
			switch e.Kind {
			case Begin:
				ce.Ph = "B"
				if e.Func == PhaseStatement {
					ce.Name = e.Detail
					ce.Cat = "statement"
				}
			case End:
				ce.Ph = "E"
				if e.Detail != "" {
					args = map[string]any{"result": e.Detail}
				}
			case Step, Decide:
				ce.Ph, ce.S = "i", "t"
			case Wait:
				ce.Ph, ce.Name, ce.Cat = "B", "sleep ("+e.Detail+")", "wait"
			case WaitEnd:
				// The flow finishes inside the sleep, which then ends.
				f.TraceEvents = append(f.TraceEvents, ChromeEvent{Name: "wakeup", Cat: "wait", Ph: "f", Bp: "e", ID: base + e.Flow, Ts: ts, Pid: pid, Tid: e.Track + 1})
				ce.Ph, ce.Ts = "E", ts+1
				args = map[string]any{"result": e.Detail}
			case Wake:
				ce.Ph, ce.Name, ce.Cat, ce.ID = "s", "wakeup", "wait", base+e.Flow
			}
			if len(args) > 0 && ce.Ph != "s" {
				ce.Args = args
			}
			f.TraceEvents = append(f.TraceEvents, ce)
			if e.Flow > 0 && base+e.Flow > flowID {
				flowID = base + e.Flow
			}
		}
	}
	return f
}

// WriteChrome writes runs as a trace-event JSON file.
func WriteChrome(w io.Writer, runs []Run) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(Chrome(runs))
}
