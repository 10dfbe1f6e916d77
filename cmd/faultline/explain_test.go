package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/faultline/faultline/trace"
)

func TestExplainGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"explain-io-wait-major", []string{"explain", "../../scenarios/io-wait-major.fault"}},
		{"explain-uffd-signal-user", []string{"explain", "--handler", "both", "../../scenarios/uffd-signal-user.fault"}},
		{"explain-growsdown", []string{"explain", "--arch", "riscv64", "../../scenarios/growsdown-expand-1page.fault"}},
		{"explain-riscv-hwpoison-line", []string{"explain", "--handler", "both", "--arch", "riscv64", "../../scenarios/riscv64-hwpoison-6.1.fault:11"}},
		{"explain-arm64-hwpoison", []string{"explain", "--arch", "arm64", "--handler", "generic", "../../scenarios/hwpoison-4k.fault"}},
		{"explain-kread-split", []string{"explain", "../../scenarios/kread-page-split.fault"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(tc.args...)
			if code != 0 {
				t.Fatalf("exit %d; stderr %s", code, errOut)
			}
			golden(t, tc.name, out)
		})
	}
}

// explainJSON runs explain --json and decodes it.
func explainJSON(t *testing.T, args ...string) explainOut {
	t.Helper()
	out, errOut, code := runCLI(append([]string{"explain", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d; stderr %s", code, errOut)
	}
	var o explainOut
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatalf("--json output does not decode: %v\n%s", err, out)
	}
	return o
}

// count counts the steps of fn whose detail contains sub.
func count(steps []trace.PathStep, kind trace.Kind, fn, sub string) int {
	n := 0
	for _, s := range steps {
		if s.Kind == kind && s.Func == fn && strings.Contains(s.Detail, sub) {
			n++
		}
	}
	return n
}

// A file page that needs I/O: filemap_fault reads it, the lock is
// dropped for the wait, handle_mm_fault returns VM_FAULT_RETRY, and the
// fault retries once and finds the page, on every arch and handler.
func TestExplainIOWaitRetriesOnce(t *testing.T) {
	for _, arch := range []string{"x86_64", "riscv64", "arm64"} {
		o := explainJSON(t, "--handler", "both", "--arch", arch, "testdata/explain-io.fault")
		if len(o.Runs) != 2 {
			t.Fatalf("%s: %d runs, want native and generic", arch, len(o.Runs))
		}
		for _, r := range o.Runs {
			var faults []trace.Fault
			for _, st := range r.Statements {
				if st.Line == 7 {
					faults = append(faults, st.Faults...)
				}
			}
			if len(faults) != 1 {
				t.Fatalf("%s %s: the read took %d faults, want 1 (its retry is inside it)", arch, r.Handler, len(faults))
			}
			f := faults[0]
			checks := []struct {
				what string
				got  int
				want int
			}{
				{"page-cache misses", count(f.Steps, trace.Step, "filemap_fault", "not in the page cache"), 1},
				{"lock drops for the wait", count(f.Steps, trace.Step, "lock_folio_maybe_drop_mmap", "drop the"), 1},
				{"sleeps", count(f.Steps, trace.Wait, "schedule", ""), 1},
				{"handle_mm_fault returning RETRY", count(f.Steps, trace.End, "handle_mm_fault", "VM_FAULT_RETRY"), 1},
				{"retries", count(f.Steps, trace.Step, "retry", ""), 1},
				{"handle_mm_fault calls", count(f.Steps, trace.Begin, "handle_mm_fault", ""), 2},
				{"retried calls with FAULT_FLAG_TRIED", count(f.Steps, trace.Begin, "handle_mm_fault", "TRIED"), 1},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s %s: %d %s, want %d", arch, r.Handler, c.got, c.what, c.want)
				}
			}
			if f.Action != "restart" {
				t.Errorf("%s %s: action %q, want restart", arch, r.Handler, f.Action)
			}
		}
		for _, d := range o.Divergences {
			if !d.Same {
				t.Errorf("%s: native and generic part ways on a plain I/O fault: %+v", arch, d)
			}
		}
	}
}

// A userfaultfd wait interrupted by a caught signal: the wait ends
// interrupted, the fault ends with the Signal verdict (the generic
// handler says so; the native one returns to user mode likewise), the
// handler runs on the way back, and the access faults again.
func TestExplainUffdSignalRefaults(t *testing.T) {
	o := explainJSON(t, "--handler", "both", "testdata/explain-uffd-signal.fault")
	for _, r := range o.Runs {
		var st *trace.Statement
		for i := range r.Statements {
			if r.Statements[i].Line == 8 {
				st = &r.Statements[i]
			}
		}
		if st == nil || len(st.Faults) != 2 {
			t.Fatalf("%s: the read's faults: %+v, want 2 (the fault and its refault)", r.Handler, st)
		}
		first, refault := st.Faults[0], st.Faults[1]
		if count(first.Steps, trace.WaitEnd, "schedule", "interrupted") != 1 {
			t.Errorf("%s: the first fault's wait did not end interrupted: %+v", r.Handler, first.Steps)
		}
		if count(first.Steps, trace.Step, "handle_userfault", "wait interruptible") != 1 {
			t.Errorf("%s: no interruptible userfaultfd wait in %+v", r.Handler, first.Steps)
		}
		if count(first.Steps, trace.Step, "fault_signal_pending", "a signal is pending") != 1 {
			t.Errorf("%s: the signal check did not abandon the fault", r.Handler)
		}
		signal := count(first.Steps, trace.Decide, "verdict", "Signal")
		if r.Handler.String() == "native" {
			signal = count(first.Steps, trace.Decide, "fault_signal_pending", "Signal verdict")
		}
		if signal != 1 {
			t.Errorf("%s: the first fault does not end with the Signal verdict: %+v", r.Handler, first.Steps)
		}
		if count(first.After, trace.Step, "arch_do_signal_or_restart", "SIGUSR1 (caught)") != 1 {
			t.Errorf("%s: the handler does not run between the fault and its refault: %+v", r.Handler, first.After)
		}
		if count(refault.Steps, trace.WaitEnd, "schedule", "woken") != 1 || refault.Action != "restart" {
			t.Errorf("%s: the refault is not woken by the copy: %+v", r.Handler, refault)
		}
	}
}

func TestExplainLineAndErrors(t *testing.T) {
	o := explainJSON(t, "testdata/explain-uffd-signal.fault:8")
	if o.Line != 8 || len(o.Runs) != 1 || len(o.Runs[0].Statements) != 1 || o.Runs[0].Statements[0].Line != 8 {
		t.Errorf("explain FILE:8 shows %+v, want the statement of line 8 only", o)
	}
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"no statement", []string{"testdata/explain-io.fault:2"}, "no statement"},
		{"missing", []string{"testdata/nosuch.fault"}, "nosuch"},
		{"bad file", []string{"testdata/bad.fault"}, "bad.fault"},
		{"handler", []string{"--handler", "neither", "testdata/explain-io.fault"}, "--handler"},
		{"arch", []string{"--arch", "vax", "testdata/explain-io.fault"}, "--arch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runCLI(append([]string{"explain"}, tc.args...)...)
			if code != 2 || !strings.Contains(errOut, tc.msg) {
				t.Errorf("exit %d, stderr %q; want 2 naming %q", code, errOut, tc.msg)
			}
		})
	}
}

// run --trace writes a trace-event file holding every run, a thread per
// actor and a fault slice per fault; a path it cannot write is exit 2.
func TestRunTraceFile(t *testing.T) {
	path := t.TempDir() + "/out.json"
	_, errOut, code := runCLI("run", "--arch", "x86_64", "--trace", path, "testdata/pass.fault", "testdata/explain-uffd-signal.fault")
	if code != 0 {
		t.Fatalf("exit %d; stderr %s", code, errOut)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f trace.ChromeFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("the trace does not parse: %v", err)
	}
	procs, threads, faults, flows := map[string]bool{}, 0, 0, 0
	for _, e := range f.TraceEvents {
		switch {
		case e.Ph == "M" && e.Name == "process_name":
			procs[e.Args["name"].(string)] = true
		case e.Ph == "M" && e.Name == "thread_name":
			threads++
		case e.Ph == "B" && e.Name == trace.PhaseFault:
			faults++
		case e.Ph == "s":
			flows++
		}
	}
	for _, want := range []string{"cli-pass x86_64 native", "cli-pass x86_64 generic", "explain-uffd-signal x86_64 native", "explain-uffd-signal x86_64 generic"} {
		if !procs[want] {
			t.Errorf("no process %q in %v", want, procs)
		}
	}
	if threads != 2+2*2 || faults == 0 || flows == 0 {
		t.Errorf("%d threads (want 6: main, and main and T), %d fault slices, %d flows", threads, faults, flows)
	}
	if _, errOut, code := runCLI("run", "--trace", t.TempDir()+"/no/such/dir/out.json", "testdata/pass.fault"); code != 2 || !strings.Contains(errOut, "--trace") {
		t.Errorf("an unwritable --trace: exit %d, stderr %q; want 2 naming --trace", code, errOut)
	}
}
