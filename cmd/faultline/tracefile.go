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

// traceJob collects the recorders of one scenario's runs, in run order.
type traceJob struct{ runs []trace.Run }

// options returns o with each run's recorder collected in j (nil j: o).
func (j *traceJob) options(o runner.Options) runner.Options {
	if j == nil {
		return o
	}
	o.Trace = func(s *scenario.Scenario, arch string, h machine.Handler) *trace.Recorder {
		rec := trace.NewRecorder(traceRunLimit)
		j.runs = append(j.runs, trace.Run{Name: fmt.Sprintf("%s %s %s", s.Name, arch, h), Rec: rec})
		return rec
	}
	return o
}

// writeTraceFile writes the runs of jobs, in order, to path.
func writeTraceFile(path string, jobs []*traceJob) error {
	var runs []trace.Run
	for _, j := range jobs {
		runs = append(runs, j.runs...)
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
