package kernel

import (
	"fmt"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/memory"
)

// OutcomeKind classifies what a call on behalf of an actor ended with.
type OutcomeKind int

// Outcome kinds.
const (
	OutOK       OutcomeKind = iota // succeeded (Value holds a result when HasValue)
	OutSignal                      // a synchronous fault signal was delivered (Info)
	OutErrno                       // a system call failed (Errno)
	OutKilled                      // the task's process was ended by Signal
	OutOops                        // the kernel crashed in this task (model only)
	OutLivelock                    // an access never completes (model only)
	OutFault                       // a userfaultfd page-fault message was read (Msg)
)

// Outcome is the result of one call: an access or a system call.
type Outcome struct {
	Kind     OutcomeKind
	HasValue bool
	Value    uint64
	Info     SigInfo
	Errno    abi.Errno
	Signal   abi.Signal
	Msg      memory.UffdMsg
}

// OK returns a successful outcome without a value.
func OK() Outcome { return Outcome{Kind: OutOK} }

// OKValue returns a successful outcome carrying v.
func OKValue(v uint64) Outcome { return Outcome{Kind: OutOK, HasValue: true, Value: v} }

// Err returns a failed system call.
func Err(e abi.Errno) Outcome {
	if e == 0 {
		return OK()
	}
	return Outcome{Kind: OutErrno, Errno: e}
}

func (o Outcome) String() string {
	switch o.Kind {
	case OutOK:
		if o.HasValue {
			return fmt.Sprintf("ok %#x", o.Value)
		}
		return "ok"
	case OutSignal:
		s := fmt.Sprintf("%s %s @%#x", o.Info.Signo, abi.CodeName(o.Info.Signo, o.Info.Code), o.Info.Addr)
		if o.Info.Signo == abi.SIGBUS {
			s += fmt.Sprintf(" lsb=%d", o.Info.LSB)
		}
		return s
	case OutErrno:
		return o.Errno.String()
	case OutKilled:
		return "killed " + o.Signal.String()
	case OutOops:
		return "oops"
	case OutLivelock:
		return "livelock"
	case OutFault:
		// As the scenario language writes a fault event.
		s := fmt.Sprintf("fault %#x", o.Msg.Addr)
		for _, f := range []struct {
			on   bool
			name string
		}{{o.Msg.Write, "write"}, {o.Msg.WP, "wp"}, {o.Msg.Minor, "minor"}} {
			if f.on {
				s += " " + f.name
			}
		}
		return s
	}
	return "outcome?"
}

// call runs fn as the task's call into the kernel and returns to user
// mode afterwards, delivering what is pending. A dead task does nothing:
// its outcome is the signal that killed it.
func (t *Task) call(fn func() Outcome) Outcome {
	t.k.tick()
	p := t.proc
	p.mu.Lock()
	if t.dead {
		sig := t.death
		p.mu.Unlock()
		return Outcome{Kind: OutKilled, Signal: sig}
	}
	if t.stuck {
		// Still looping in the kernel on its earlier fault: it never
		// gets to make this call.
		p.mu.Unlock()
		return Outcome{Kind: OutLivelock}
	}
	t.active = true
	t.waitWhileStoppedLocked() // a stopped thread runs nothing until SIGCONT
	if t.fatalPendingLocked() {
		p.mu.Unlock()
		return t.exitToUser(Outcome{})
	}
	p.mu.Unlock()
	out := t.exitToUser(fn())
	t.k.changed() // what a livelocked task faults on may have changed
	return out
}

// returnToUser delivers pending signals as an access returns to user mode
// in the middle of a call (a faulting instruction about to restart). It
// reports true when the call ends there: a fatal signal, or a fault
// signal, which the runner's handler catches (it does not return to the
// instruction).
func (t *Task) returnToUser() (Outcome, bool) {
	p := t.proc
	p.mu.Lock()
	defer p.mu.Unlock()
	t.waitWhileStoppedLocked() // get_signal stops first
	if t.fatalPendingLocked() {
		if t.track.On() {
			t.track.Step("get_signal", "a fatal signal: the task exits")
		}
		return Outcome{Kind: OutKilled, Signal: p.exit}, true
	}
	if t.fault != nil {
		info := *t.fault
		t.fault = nil // the runner's handler takes it, not the scenario's
		t.deliverLocked()
		if t.track.On() {
			t.track.Step("arch_do_signal_or_restart", "delivers "+describeSigInfo(info)+": the access ends")
		}
		return Outcome{Kind: OutSignal, Info: info}, true
	}
	if t.track.On() && t.pending != 0 {
		t.track.Step("arch_do_signal_or_restart", "runs the handlers of "+describePending(t.pending, &t.proc.actions)+"; the instruction restarts")
	}
	t.deliverLocked()
	return Outcome{}, false
}

// exitToUser ends a call (exit_to_user_mode): the task dies if a fatal
// signal is pending or it oopsed; otherwise a pending fault signal
// becomes the outcome and caught signals run their handlers.
//
// A livelock never gets there: the task keeps faulting in the kernel, so
// it stays active (a fatal signal cannot end it, as on the kernel that
// loops), pending signals stay pending, and it is stuck for the rest of
// the run.
func (t *Task) exitToUser(out Outcome) Outcome {
	p := t.proc
	p.mu.Lock()
	if out.Kind == OutLivelock && !t.oopsed && !t.k.ending.Load() {
		t.stuck = true
		p.mu.Unlock()
		return out
	}
	if !t.oopsed {
		t.waitWhileStoppedLocked()
	}
	t.active = false
	if t.oopsed || t.fatalPendingLocked() {
		if t.oopsed && p.exit == 0 && p.live == 1 {
			p.exit = abi.SIGKILL // make_task_dead: the last thread takes the process
		}
		t.exitLocked()
		sig := t.death
		p.mu.Unlock()
		t.finishExit()
		if t.oopsed {
			return Outcome{Kind: OutOops}
		}
		return Outcome{Kind: OutKilled, Signal: sig}
	}
	if t.fault != nil {
		info := *t.fault
		t.fault = nil // the runner's handler takes it, not the scenario's
		out = Outcome{Kind: OutSignal, Info: info}
	}
	t.deliverLocked()
	p.mu.Unlock()
	return out
}

// oops records that the kernel crashed on t's behalf (die / make_task_dead).
func (t *Task) oops() {
	t.proc.mu.Lock()
	t.oopsed = true
	t.proc.mu.Unlock()
}
