package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/trace"
)

// traceHelp is run's help for --trace.
const traceHelp = `--trace OUT.json records every run's fault path and writes it as a Chrome
trace-event file (the "traceEvents" array format), which the Perfetto UI
(ui.perfetto.dev) and chrome://tracing open: a process per run (scenario,
architecture, handler), a thread per actor, a slice per statement and,
inside it, per fault with its phases (handle_mm_fault), a slice per sleep,
an instant event per step naming the kernel function it mirrors, and a flow
arrow from each wakeup to the sleep it ended. Timestamps are a logical
clock, the model's own order of events (ten microseconds per event), not
wall-clock time; the file's otherData.clock says so. A run keeps its first
16384 events (a livelock retries thousands of times); the rest are counted
in a "truncated" event.`

// traceRunLimit bounds the events one traced run keeps.
const traceRunLimit = 1 << 14

// traceJob collects the recorders of one scenario's runs, in run order:
// runs[k] is the k-th run's, nil for a run that was not traced (it
// stopped before its machine was made).
type traceJob struct{ runs []*trace.Run }

// options returns o with the recorder of the scenario's run k collected
// in j (nil j: o). Runs of one scenario may run at once, each in its slot.
func (j *traceJob) options(o runner.Options, k int) runner.Options {
	if j == nil {
		return o
	}
	o.Trace = func(s *scenario.Scenario, arch string, h machine.Handler) *trace.Recorder {
		rec := trace.NewRecorder(traceRunLimit)
		j.runs[k] = &trace.Run{Name: fmt.Sprintf("%s %s %s", s.Name, arch, h), Rec: rec}
		return rec
	}
	return o
}

// writeTraceFile writes the runs of jobs, in order, to path.
func writeTraceFile(path string, jobs []*traceJob) error {
	var runs []trace.Run
	for _, j := range jobs {
		for _, r := range j.runs {
			if r != nil {
				runs = append(runs, *r)
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return &exitError{2, fmt.Sprintf("--trace: %v", err)}
	}
	w := bufio.NewWriter(f)
	err = trace.WriteChrome(w, runs)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &exitError{2, fmt.Sprintf("--trace: %v", err)}
	}
	return nil
}
