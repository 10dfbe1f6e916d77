package trace_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/scenarios"
	"github.com/faultline/faultline/trace"
)

// traced runs the corpus scenarios named (all with none) on every arch
// each names and both handlers, traced, and returns the runs and the
// reports.
func traced(t *testing.T, names map[string]bool, only string) ([]trace.Run, []runner.Report) {
	t.Helper()
	var runs []trace.Run
	var reps []runner.Report
	for _, f := range scenarios.All() {
		s, err := scenario.Parse(f.Name, f.Src)
		if err != nil {
			t.Fatal(err)
		}
		if names != nil && !names[s.Name] {
			continue
		}
		arches, _ := runner.Arches(s, only)
		for _, a := range arches {
			for _, h := range machine.Handlers() {
				var rec *trace.Recorder
				rep := runner.Run(s, a, runner.Options{Handler: h, Trace: func(*scenario.Scenario, string, machine.Handler) *trace.Recorder {
					rec = trace.NewRecorder(1 << 14)
					return rec
				}})
				if rec == nil {
					continue // not run: no machine was made
				}
				runs = append(runs, trace.Run{Name: fmt.Sprintf("%s %s %s", s.Name, a, h), Rec: rec})
				reps = append(reps, rep)
			}
		}
	}
	return runs, reps
}

// checkChrome checks a trace file as the trace-event format requires:
// it parses; every event has the fields its phase needs; B/E slices nest
// per thread in timestamp order; every flow has one start and one finish,
// in order; and each run has a "fault" slice per trap its tasks took.
func checkChrome(t *testing.T, data []byte, runs []trace.Run, reps []runner.Report) {
	t.Helper()
	for _, e := range chromeErrors(data, runs, reps) {
		t.Error(e)
	}
}

// chromeErrors is checkChrome's findings.
func chromeErrors(data []byte, runs []trace.Run, reps []runner.Report) []string {
	var errs []string
	fail := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	var file struct {
		TraceEvents []map[string]any `json:"traceEvents"`
		OtherData   map[string]any   `json:"otherData"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		fail("the trace does not parse: %v", err)
		return errs
	}
	if c, _ := file.OtherData["clock"].(string); !strings.Contains(c, "logical") {
		fail("otherData.clock = %q: the metadata must say the clock is logical", c)
	}
	need := map[string][]string{
		"B": {"name", "ts", "pid", "tid"}, "E": {"ts", "pid", "tid"},
		"i": {"name", "ts", "pid", "tid", "s"}, "M": {"name", "pid", "args"},
		"s": {"name", "cat", "id", "ts", "pid", "tid"}, "f": {"name", "cat", "id", "ts", "pid", "tid", "bp"},
	}
	type key struct{ pid, tid int }
	type flow struct{ s, f int }
	stacks := map[key][]string{}
	last := map[key]float64{}
	flows := map[float64]*flow{}
	flowTs := map[float64][2]float64{}
	faults := map[int]int{}
	for i, e := range file.TraceEvents {
		ph, _ := e["ph"].(string)
		fields, ok := need[ph]
		if !ok {
			fail("event %d: phase %q is not one the trace uses", i, ph)
			return errs
		}
		for _, f := range fields {
			if _, ok := e[f]; !ok {
				fail("event %d (%v): phase %s without %q", i, e, ph, f)
				return errs
			}
		}
		if ph == "M" {
			continue
		}
		k := key{int(e["pid"].(float64)), int(e["tid"].(float64))}
		ts := e["ts"].(float64)
		if ts < last[k] {
			fail("event %d: ts %v before %v on the same thread", i, ts, last[k])
			return errs
		}
		last[k] = ts
		switch ph {
		case "B":
			stacks[k] = append(stacks[k], e["name"].(string))
			if e["name"] == trace.PhaseFault {
				faults[k.pid]++
			}
		case "E":
			if len(stacks[k]) == 0 {
				fail("event %d: an end with no slice open on %v", i, k)
				return errs
			}
			stacks[k] = stacks[k][:len(stacks[k])-1]
		case "s", "f":
			id := e["id"].(float64)
			fl := flows[id]
			if fl == nil {
				fl = &flow{}
				flows[id] = fl
			}
			p := flowTs[id]
			if ph == "s" {
				fl.s++
				p[0] = ts
			} else {
				fl.f++
				p[1] = ts
				if e["bp"] != "e" {
					fail("event %d: a flow finish not bound to its enclosing slice", i)
				}
			}
			flowTs[id] = p
		}
	}
	for k, st := range stacks {
		if len(st) > 0 {
			fail("%v: slices %v never end", k, st)
		}
	}
	for id, fl := range flows {
		if fl.s != 1 || fl.f != 1 {
			fail("flow %v: %d starts, %d finishes", id, fl.s, fl.f)
		} else if p := flowTs[id]; p[0] > p[1] {
			fail("flow %v finishes at %v before it starts at %v", id, p[1], p[0])
		}
	}
	for i, r := range runs {
		pid := i + 1
		switch traps := reps[i].Traps; {
		case r.Rec.Truncated() == 0 && int64(faults[pid]) != traps:
			fail("%s: %d fault slices for %d traps", r.Name, faults[pid], traps)
		case int64(faults[pid]) > traps:
			fail("%s: %d fault slices for only %d traps", r.Name, faults[pid], traps)
		}
	}
	return errs
}

// The scenarios whose traces hold what the format must pair: I/O waits,
// userfaultfd waits and wakes, signals, threads, a livelock, kernel copies.
var chromeScenarios = map[string]bool{
	"io-wait-major": true, "io-two-waiters": true, "uffd-signal-user": true, "uffd-missing-copy": true,
	"uffd-kill-kernel": true, "signal-stop-uffd-refault": true, "kwrite-riscv-livelock": true,
	"kread-page-split": true, "growsdown-expand-1page": true, "swap-out-in": true, "hugetlb-fault": true,
	"thread-shares-memory": true, "faults-uffd-wait": true, "guard-read": true, "x86-noncanonical-read": true,
}

func TestChromeTraceOfScenarios(t *testing.T) {
	runs, reps := traced(t, chromeScenarios, "")
	if len(runs) < len(chromeScenarios) {
		t.Fatalf("only %d runs traced", len(runs))
	}
	var buf bytes.Buffer
	if err := trace.WriteChrome(&buf, runs); err != nil {
		t.Fatal(err)
	}
	checkChrome(t, buf.Bytes(), runs, reps)
	// Waits paired across actors: a uffd copy by main wakes T's fault.
	flowsAcross := 0
	for _, r := range runs {
		for _, e := range r.Rec.Events() {
			if e.Kind == trace.Wake && e.Peer != e.Track {
				flowsAcross++
			}
		}
	}
	if flowsAcross == 0 {
		t.Error("no wakeup from one actor to another in scenarios made of them")
	}
}

// The whole corpus's trace (on x86_64, both handlers) is valid and has a
// fault slice per trap.
func TestChromeTraceOfCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole corpus, traced: -short skips it")
	}
	runs, reps := traced(t, nil, "x86_64")
	var buf bytes.Buffer
	if err := trace.WriteChrome(&buf, runs); err != nil {
		t.Fatal(err)
	}
	checkChrome(t, buf.Bytes(), runs, reps)
}

// A trace that breaks the format is caught: the checks can fail.
func TestChromeChecksCatch(t *testing.T) {
	tests := []struct{ name, events, want string }{
		{"ok", `{"ph":"B","name":"fault","ts":1,"pid":1,"tid":1},{"ph":"E","ts":2,"pid":1,"tid":1}`, ""},
		{"no-ts", `{"ph":"B","name":"fault","pid":1,"tid":1}`, "without \"ts\""},
		{"open", `{"ph":"B","name":"x","ts":1,"pid":1,"tid":1}`, "never end"},
		{"end-alone", `{"ph":"E","ts":1,"pid":1,"tid":1}`, "no slice open"},
		{"backwards", `{"ph":"i","s":"t","name":"x","ts":5,"pid":1,"tid":1},{"ph":"i","s":"t","name":"x","ts":4,"pid":1,"tid":1}`, "before"},
		{"flow-alone", `{"ph":"s","name":"w","cat":"wait","id":3,"ts":1,"pid":1,"tid":1}`, "0 finishes"},
		{"flow-reversed", `{"ph":"s","name":"w","cat":"wait","id":3,"ts":9,"pid":1,"tid":1},{"ph":"f","bp":"e","name":"w","cat":"wait","id":3,"ts":2,"pid":1,"tid":2}`, "before it starts"},
		{"unknown", `{"ph":"X","name":"x","ts":1,"pid":1,"tid":1}`, "not one the trace uses"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := `{"traceEvents":[` + tc.events + `],"otherData":{"clock":"logical"}}`
			errs := chromeErrors([]byte(data), nil, nil)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("a valid trace: %v", errs)
			case tc.want != "" && !strings.Contains(strings.Join(errs, "\n"), tc.want):
				t.Errorf("errors %v, want one saying %q", errs, tc.want)
			}
		})
	}
	// A run whose fault slices do not match its traps.
	rec := trace.NewRecorder(0)
	rec.Track("main").Step("x", "")
	data := []byte(`{"traceEvents":[],"otherData":{"clock":"logical"}}`)
	if errs := chromeErrors(data, []trace.Run{{Name: "r", Rec: rec}}, []runner.Report{{Traps: 2}}); len(errs) == 0 {
		t.Error("2 traps and no fault slice went unnoticed")
	}
}
