package fault

import (
	"fmt"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/trace"
)

// The steps both handlers take, spelt once, so that the paths of the
// generic and a native handler compare step by step.

// TraceVMALock traces lock_vma_under_rcu's answer on m (v nil: none).
// A kernel without per-VMA locks has only the stub, which the trace
// does not show.
func TraceVMALock(tr *trace.Track, m *mm.MM, v *mm.VMA) {
	if tr.On() {
		traceVMALock(tr, m, v)
	}
}

func traceVMALock(tr *trace.Track, m *mm.MM, v *mm.VMA) {
	if v == nil && !m.PerVMALock() {
		return
	}
	if v == nil {
		tr.Step("lock_vma_under_rcu", "no VMA read-locked: fall back to the mmap lock")
		return
	}
	tr.Step("lock_vma_under_rcu", "VMA "+v.Describe()+" read-locked")
}

// TraceAccess traces the access check: code 0 allowed, else the
// SIGSEGV si_code it implies.
func TraceAccess(tr *trace.Track, acc mm.Access, code abi.Code) {
	if tr.On() {
		traceAccess(tr, acc, code)
	}
}

func traceAccess(tr *trace.Track, acc mm.Access, code abi.Code) {
	if code == 0 {
		tr.Step("access_error", acc.String()+" allowed")
		return
	}
	tr.Step("access_error", acc.String()+" denied: "+abi.CodeName(abi.SIGSEGV, code))
}

// TraceSignalCheck traces what fault_signal_pending found after
// VM_FAULT_RETRY.
func TraceSignalCheck(tr *trace.Track, pending, user bool) {
	if tr.On() {
		traceSignalCheck(tr, pending, user)
	}
}

func traceSignalCheck(tr *trace.Track, pending, user bool) {
	var s string
	switch {
	case pending && user:
		s = "a signal is pending: abandon the fault"
	case pending:
		s = "a fatal signal is pending: abandon the fault"
	case user:
		s = "no signal pending"
	default:
		s = "no fatal signal pending (a kernel fault ignores others)"
	}
	tr.Step("fault_signal_pending", s)
}

// TraceRetry traces a retry: after the per-VMA lock (going on under the
// mmap lock, tried when it waited for I/O), or after handle_mm_fault
// dropped the mmap lock.
func TraceRetry(tr *trace.Track, vmaLock, tried bool) {
	if tr.On() {
		traceRetry(tr, vmaLock, tried)
	}
}

func traceRetry(tr *trace.Track, vmaLock, tried bool) {
	switch {
	case vmaLock && tried:
		tr.Step("retry", "VM_FAULT_RETRY under the VMA lock: go on under the mmap lock with FAULT_FLAG_TRIED (it waited)")
	case vmaLock:
		tr.Step("retry", "VM_FAULT_RETRY under the VMA lock: go on under the mmap lock")
	default:
		tr.Step("retry", "VM_FAULT_RETRY: the lock was dropped; retry with FAULT_FLAG_TRIED")
	}
}

// Describe spells a result as a trace prints it: the verdict, its
// cause, signal and si_code, and the retries by reason.
func (r Result) Describe() string {
	s := r.Verdict.String()
	if r.Verdict == KernFixup {
		s += " (cause " + r.Cause.String() + ")"
	}
	if r.Signo != 0 {
		s += fmt.Sprintf(": %v %s", r.Signo, abi.CodeName(r.Signo, r.Code))
		if r.LSB != 0 {
			s += fmt.Sprintf(" lsb=%d", r.LSB)
		}
	}
	if r.Major {
		s += ", major"
	}
	if n := r.Retries.Total(); n > 0 {
		s += fmt.Sprintf(", retries: %d under the VMA lock, %d after a dropped lock", r.Retries.VMALock, r.Retries.Dropped)
	}
	return s
}
