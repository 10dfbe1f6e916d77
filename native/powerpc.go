package native

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch"
	"github.com/faultline/faultline/arch/powerpc"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/fault"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/vmfault"
)

// PPC is ppc64le with its own fault handler: arch/powerpc/mm/fault.c
// do_page_fault, ___do_page_fault, mm_fault_error, do_sigbus and
// bad_page_fault on Book3S-64 radix, as Linux 6.18 has it, or 6.1 with
// config kernel=6.1. It shares the generic front end's MMU, trap decode,
// early checks (bad DSISR bits, bad_kernel_fault, KUAP) and access rule,
// and replaces only Trap.
//
// ___do_page_fault returns 0 when it handled the fault (a user-mode
// failure queued its signal itself) or, for a kernel-mode failure, a
// signal number that do_page_fault hands to bad_page_fault: the
// exception-table fixup, else die() with that signal. Only the oops
// message shows the number; the generic handler carries one cause
// instead (arch.RuleKernelSignalNumber).
//
// Read: Debian's 6.1.172 in full, and a copy of 6.13 or later (it calls
// str_write_read) for 6.18; between 6.13 and 6.18 the catalog lists no
// powerpc change. What the version changes, in ___do_page_fault:
//
//   - 6.4 ("powerpc/mm: try VMA lock-based page fault handling first"):
//     user faults try the per-VMA lock first (phase A); 6.1 takes the mmap
//     lock at once (and has no per-VMA locks: mm.MM.LockVMAUnderRCU finds
//     nothing before 6.4).
//   - 6.10 ("powerpc: mm: accelerate pagefault when badaccess"): an access
//     error found under the per-VMA lock is reported at once; before, the
//     fault falls back to the mmap lock, which finds the same error.
//
// lock_mm_and_find_vma is the same in both: 6.1.172 has the StackRot
// backport. Protection keys are hash-MMU only: bad_access_pkey is never
// reached on radix.
type PPC struct {
	*powerpc.Arch
	cfg config.Kernel
	Resolution
}

// NewPPC returns ppc64le with its native fault handler for a kernel
// configured as cfg.
func NewPPC(cfg config.Kernel) *PPC {
	return &PPC{Arch: powerpc.New(cfg), cfg: cfg, Resolution: defaultResolution()}
}

// Trap implements kernel.Arch: do_page_fault (__do_page_fault), or
// do_bad_segment_interrupt for a segment interrupt.
func (a *PPC) Trap(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	if r.Trap == powerpc.TrapDataSegment || r.Trap == powerpc.TrapInstSegment {
		return powerpc.BadSegment(t, r)
	}
	act, sig := a.doPageFault(t, r)
	if sig != 0 {
		return powerpc.BadPageFault(t, r, sig)
	}
	return act
}

// doPageFault is ___do_page_fault: it returns a signal number for
// bad_page_fault, or 0 and what becomes of the access.
func (a *PPC) doPageFault(t *kernel.Task, r *kernel.Regs) (kernel.TrapAction, abi.Signal) {
	if act, done := a.Early(t, r); done {
		// page_fault_is_bad, bad_kernel_fault: shared with the generic
		// front end, bad_page_fault included.
		return act, 0
	}
	user := r.User
	m := t.MM()
	if r.NoFault || m == nil {
		// faulthandler_disabled() or no mm: logged for a user fault,
		// then bad_area_nosemaphore in both modes.
		t.Tracer().Step("faulthandler_disabled", "page faults disabled or no mm: no lock is taken")
		return a.badAreaNosemaphore(t, r, abi.SEGV_MAPERR)
	}
	flags := vmfault.FlagDefault
	if user {
		flags |= vmfault.FlagUser
	}
	if powerpc.PageFaultIsWrite(r.HW) {
		flags |= vmfault.FlagWrite
	}
	if r.Trap == powerpc.TrapInstStorage {
		flags |= vmfault.FlagInstruction
	}

	if user && a.cfg.Version.AtLeast(6, 4) {
		act, sig, f, done := a.underVMALock(t, r, m, flags)
		if done {
			return act, sig
		}
		flags = f
	}

	// lock_mmap / retry: phase B.
	hasFixup := kernel.SearchExceptionTables(r.Insn)
	for retries := 0; ; retries++ {
		v := m.LockAndFindVMA(r.Addr, t, user, hasFixup)
		if v == nil {
			return a.badAreaNosemaphore(t, r, abi.SEGV_MAPERR)
		}
		if powerpc.AccessError(v, r.Access) {
			traceAccess(t, r.Access, true)
			m.MmapReadUnlock() // bad_access: __bad_area
			return a.badAreaNosemaphore(t, r, abi.SEGV_ACCERR)
		}
		traceAccess(t, r.Access, false)
		ret := a.Resolve(v, r.Addr, flags, t)
		if faultSignalPending(ret, t, user) {
			return a.retrySignal(t, user)
		}
		if ret&vmfault.Completed != 0 {
			return kernel.Restart, 0 // the lock is already released
		}
		if ret&vmfault.Retry != 0 {
			// The lock was dropped in handle_mm_fault.
			if retries >= a.MaxRetries {
				return kernel.Livelock, 0
			}
			fault.TraceRetry(t.Tracer(), false, true)
			flags |= vmfault.FlagTried
			continue
		}
		m.MmapReadUnlock()
		return a.done(t, r, ret)
	}
}

// underVMALock is phase A, the user fault under the per-VMA lock alone.
// It reports whether it ended the fault, and returns the flags the fault
// goes on with under the mmap lock when it did not: FAULT_FLAG_TRIED only
// when the first try was major.
func (a *PPC) underVMALock(t *kernel.Task, r *kernel.Regs, m *mm.MM, flags vmfault.Flags) (kernel.TrapAction, abi.Signal, vmfault.Flags, bool) {
	v := m.LockVMAUnderRCUCached(t.VMACache(), r.Addr)
	fault.TraceVMALock(t.Tracer(), m, v)
	if v == nil {
		return kernel.Restart, 0, flags, false
	}
	// access_pkey_error first: never true on radix.
	if powerpc.AccessError(v, r.Access) {
		traceAccess(t, r.Access, true)
		v.EndRead()
		if !a.cfg.Version.AtLeast(6, 10) {
			return kernel.Restart, 0, flags, false // the mmap lock finds it again
		}
		act, sig := a.badAreaNosemaphore(t, r, abi.SEGV_ACCERR)
		return act, sig, flags, true
	}
	traceAccess(t, r.Access, false)
	ret := a.Resolve(v, r.Addr, flags|vmfault.FlagVMALock, t)
	if ret&(vmfault.Retry|vmfault.Completed) == 0 {
		v.EndRead()
	}
	if ret&vmfault.Retry == 0 {
		act, sig := a.done(t, r, ret)
		return act, sig, flags, true
	}
	fault.TraceRetry(t.Tracer(), true, ret&vmfault.Major != 0)
	if ret&vmfault.Major != 0 {
		flags |= vmfault.FlagTried
	}
	if faultSignalPending(ret, t, r.User) {
		// Phase A is for user faults only: the C's SIGBUS for a kernel
		// fault here is dead code.
		return kernel.Restart, 0, flags, true
	}
	return kernel.Restart, 0, flags, false
}

// retrySignal is the return of ___do_page_fault when fault_signal_pending
// holds after VM_FAULT_RETRY: 0 for a user fault (the signal is delivered
// on the way out), SIGBUS for a kernel one (the fatal signal kills the
// task once the fixup has made the system call fail).
func (a *PPC) retrySignal(t *kernel.Task, user bool) (kernel.TrapAction, abi.Signal) {
	if user {
		return kernel.Restart, 0
	}
	note(t, arch.RuleKernelSignalNumber) // SIGBUS, where the generic cause is Signal
	return 0, abi.SIGBUS
}

// done is the tail of ___do_page_fault: a result without VM_FAULT_ERROR
// returns to the instruction; any other goes to mm_fault_error.
func (a *PPC) done(t *kernel.Task, r *kernel.Regs, ret vmfault.Reason) (kernel.TrapAction, abi.Signal) {
	if tr := t.Tracer(); tr.On() {
		tr.Decide("___do_page_fault", "done: "+memory.DescribeReason(ret))
	}
	if ret&vmfault.Error == 0 {
		return kernel.Restart, 0
	}
	return a.mmFaultError(t, r, ret)
}

// mmFaultError is mm_fault_error: a kernel fault with a fatal signal
// pending is SIGKILL whatever the bits; then OOM, SIGBUS or poison
// (do_sigbus), SIGSEGV, and BUG() for anything else.
func (a *PPC) mmFaultError(t *kernel.Task, r *kernel.Regs, ret vmfault.Reason) (kernel.TrapAction, abi.Signal) {
	user := r.User
	if !user && t.FatalSignalPending() {
		t.Tracer().Decide("mm_fault_error", "a kernel fault with a fatal signal pending: SIGKILL")
		note(t, arch.RuleKernelSignalNumber)
		return 0, abi.SIGKILL
	}
	switch {
	case ret&vmfault.OOM != 0:
		if !user {
			note(t, arch.RuleKernelSignalNumber) // SIGSEGV, where the generic cause is OOM
			return 0, abi.SIGSEGV
		}
		// pagefault_out_of_memory: back to user mode, which retries the
		// access, or dies if the OOM killer chose this task.
		return kernel.Restart, 0
	case ret&(vmfault.SigBus|vmfault.HWPoison|vmfault.HWPoisonLarge) != 0:
		return a.doSigbus(t, r, ret)
	case ret&vmfault.SigSegv != 0:
		return a.badAreaNosemaphore(t, r, abi.SEGV_MAPERR)
	}
	t.Tracer().Decide("mm_fault_error", "no branch takes these bits: BUG()")
	return kernel.Oops, 0 // BUG()
}

// doSigbus is do_sigbus: SIGBUS to bad_page_fault in kernel mode; in user
// mode, with CONFIG_MEMORY_FAILURE, poison first (BUS_MCEERR_AR, the
// small page's shift winning over the huge page's), else BUS_ADRERR.
func (a *PPC) doSigbus(t *kernel.Task, r *kernel.Regs, ret vmfault.Reason) (kernel.TrapAction, abi.Signal) {
	t.Tracer().Decide("do_sigbus", "")
	if !r.User {
		return 0, abi.SIGBUS
	}
	if a.cfg.MemoryFailure && ret&(vmfault.HWPoison|vmfault.HWPoisonLarge) != 0 {
		var lsb uint
		pageShift := t.MM().PageShift() // PAGE_SHIFT
		if ret&vmfault.HWPoisonLarge != 0 {
			lsb = memory.HStateShift(ret.HIndex(), pageShift) // hstate_index_to_shift
		}
		if ret&vmfault.HWPoison != 0 {
			lsb = pageShift
		}
		t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGBUS, Code: abi.BUS_MCEERR_AR, Addr: r.Addr, LSB: uint8(lsb)})
		return kernel.Restart, 0
	}
	t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGBUS, Code: abi.BUS_ADRERR, Addr: r.Addr})
	return kernel.Restart, 0
}

// badAreaNosemaphore is __bad_area_nosemaphore (and __bad_area, once its
// caller dropped the lock): SIGSEGV with code in user mode, SIGSEGV to
// bad_page_fault in kernel mode.
func (a *PPC) badAreaNosemaphore(t *kernel.Task, r *kernel.Regs, code abi.Code) (kernel.TrapAction, abi.Signal) {
	if tr := t.Tracer(); tr.On() {
		tr.Decide("__bad_area_nosemaphore", abi.CodeName(abi.SIGSEGV, code))
	}
	if !r.User {
		return 0, abi.SIGSEGV
	}
	t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGSEGV, Code: code, Addr: r.Addr})
	return kernel.Restart, 0
}
