package kernel

import (
	"fmt"
	"strings"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/sched"
	"github.com/faultline/faultline/trace"
)

// SetTracer makes every task made from now on record its fault path on
// a track of rec (nil: tracing off). Call it before the first Spawn.
func (k *Kernel) SetTracer(rec *trace.Recorder) { k.tracer = rec }

// TracedTraps returns how many traps the tasks took with tracing on: the
// faults a trace should show, counted apart from it.
func (k *Kernel) TracedTraps() int64 { return k.traps.Load() }

// Tracer returns the task's track: nil when tracing is off. Layers below
// the task reach it through memory.Faulter and trace.Of.
func (t *Task) Tracer() *trace.Track { return t.track }

// TrapDescriber is an Arch that can say what its hardware reported for
// the trap in r: the entry point it takes (exc_page_fault, do_mem_abort,
// handle_page_fault) and the decoded fault registers (x86 error code
// bits, arm64 ESR EC/WnR/DFSC, riscv scause).
type TrapDescriber interface {
	DescribeTrap(r *Regs) (entry, detail string)
}

// tracedTrap runs the architecture's trap handler for the miss in r, as
// one traced fault: a phase from the trap to the action the handler
// chose. Callers test t.track first, so that tracing off costs the fault
// path a nil check and no call.
func (t *Task) tracedTrap(arch Arch, r *Regs) TrapAction {
	tr := t.track
	t.k.traps.Add(1)
	mode := "user"
	if !r.User {
		mode = "kernel " + r.Insn.String()
	}
	tr.Begin("fault", fmt.Sprintf("%s %#x, %s mode", r.Access, r.Addr, mode))
	if d, ok := arch.(TrapDescriber); ok {
		entry, detail := d.DescribeTrap(r)
		tr.Step(entry, detail)
	}
	act := arch.Trap(t, r)
	switch act {
	case Fixup:
		tr.Step("fixup_exception", "the exception-table entry of "+r.Insn.String()+": the copy reports failure")
	case Oops:
		tr.Step("page_fault_oops", "no fixup: the kernel oopses")
	case Emulated:
		tr.Step("emulate_vsyscall", "the call is emulated; the instruction completes")
	case Livelock:
		tr.Step("livelock", "the fault retried past the model's bound")
	}
	tr.End("fault", act.String())
	return act
}

// traceNoSleep traces a sleep that a pending signal ends before it
// begins (signal_pending_state).
func (t *Task) traceNoSleep(mode sched.Mode) {
	t.track.Step("schedule", "does not sleep: a signal that ends a "+mode.String()+" sleep is pending")
}

// describeSigInfo names a fault signal as the trace prints it.
func describeSigInfo(i SigInfo) string {
	s := fmt.Sprintf("%v %s @%#x", i.Signo, abi.CodeName(i.Signo, i.Code), i.Addr)
	if i.LSB != 0 {
		s += fmt.Sprintf(" lsb=%d", i.LSB)
	}
	if i.Signo == abi.SIGSEGV && i.Code == abi.SEGV_PKUERR {
		s += fmt.Sprintf(" pkey=%d", i.PKey)
	}
	return s
}

// describePending names the pending signals and what each will do.
func describePending(pending uint64, actions *[abi.NSig]SigAction) string {
	var names []string
	for s := abi.Signal(1); s < abi.NSig; s++ {
		if pending&sigBit(s) == 0 {
			continue
		}
		what := "caught"
		switch actions[s] {
		case SigIgnore:
			what = "ignored"
		case SigDefault:
			what = "default"
		}
		names = append(names, fmt.Sprintf("%v (%s)", s, what))
	}
	return strings.Join(names, ", ")
}
