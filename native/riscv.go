package native

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch"
	"github.com/faultline/faultline/arch/riscv"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/fault"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/vmfault"
)

// RISCV is riscv64 with its own fault handler: arch/riscv/mm/fault.c
// handle_page_fault as Linux 6.18 has it, or do_page_fault of 6.1 with
// config kernel=6.1. It shares the generic front end's MMU, trap decode
// and access rule and replaces only Trap.
//
// Read: Debian's 6.12.117 and 6.1.192 in full, and a post-6.16 copy
// (linux-mm/linux-mm on GitHub) for what came after 6.12: a page-table
// dump on an oops and the page_fault_user/kernel trace points, neither
// observable. That copy also loops back to the per-VMA lock on a RETRY
// without VM_FAULT_RETRY_HARD, a change of mm's development tree that
// the 6.17-rc copy of native-handlers.md does not have either; it is not
// modeled.
//
// What the version changes, each in handle_page_fault or mm_fault_error:
//
//   - 6.3 (d835eb3a57de, "VM_FAULT_RETRY fixes"): a kernel-mode fault
//     that got VM_FAULT_RETRY with a fatal signal pending goes to
//     no_context; before, the handler just returns and the uaccess
//     instruction faults again (arch.RuleRetryLivelock).
//   - 6.5 (648321fa0d97): user faults try the per-VMA lock first (phase
//     A); 6.1 takes the mmap lock at once (and has no per-VMA locks:
//     mm.MM.LockVMAUnderRCU finds nothing before 6.4).
//   - 6.6 (Alexandre Ghiti, "riscv: Handle VM_FAULT_[HWPOISON|
//     HWPOISON_LARGE] faults instead of panicking"): poison is SIGBUS
//     BUS_ADRERR; before, a user fault with only a poison bit reaches
//     BUG() (arch.RulePoisonUnhandled).
//   - 6.10 ("mm: accelerate pagefault when badaccess"): an access error
//     found under the per-VMA lock is reported at once; before, the fault
//     falls back to the mmap lock, which finds the same error.
//
// lock_mm_and_find_vma is the same in both: 6.1.192 has the StackRot
// backport (mm.MM.LockAndFindVMA).
type RISCV struct {
	*riscv.Arch
	cfg config.Kernel
	Resolution
}

// NewRISCV returns riscv64 with its native fault handler for a kernel
// configured as cfg.
func NewRISCV(cfg config.Kernel) *RISCV {
	return &RISCV{Arch: riscv.New(cfg), cfg: cfg, Resolution: defaultResolution()}
}

// Trap implements kernel.Arch: handle_page_fault (do_page_fault at 6.1).
// It reads the VM_FAULT_* bits itself, as the C does.
func (a *RISCV) Trap(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	cause, addr, user := r.HW, r.Addr, r.User
	m := t.MM()
	if r.NoFault || m == nil {
		// faulthandler_disabled() or no mm: no_context, in user mode too
		// (a user instruction has no fixup: the task dies).
		t.Tracer().Step("faulthandler_disabled", "page faults disabled or no mm: no lock is taken")
		if user {
			note(t, arch.RuleUserNoContext)
		}
		return arch.FixupOrOops(r)
	}
	if !user && addr < a.TaskSize() && !r.UAccess {
		// "access to user memory without uaccess routines" (SR_SUM clear):
		// the fixup if the instruction has one, else die.
		t.Tracer().Step("handle_page_fault", "access to user memory without uaccess routines")
		return arch.FixupOrOops(r)
	}
	flags := vmfault.FlagDefault
	if user {
		flags |= vmfault.FlagUser
	}
	switch cause {
	case riscv.ExcStorePageFault:
		flags |= vmfault.FlagWrite
	case riscv.ExcInstPageFault:
		flags |= vmfault.FlagInstruction
	}

	if user && a.cfg.Version.AtLeast(6, 5) {
		var act kernel.TrapAction
		var done bool
		if act, flags, done = a.underVMALock(t, r, m, flags); done {
			return act
		}
	}

	// lock_mmap / retry: phase B.
	hasFixup := kernel.SearchExceptionTables(r.Insn)
	for retries := 0; ; retries++ {
		v := m.LockAndFindVMA(addr, t, user, hasFixup)
		if v == nil {
			return badAreaNosemaphore(t, r, abi.SEGV_MAPERR)
		}
		if riscv.AccessError(v, cause) {
			traceAccess(t, r.Access, true)
			m.MmapReadUnlock() // bad_area
			return badAreaNosemaphore(t, r, abi.SEGV_ACCERR)
		}
		traceAccess(t, r.Access, false)
		ret := a.Resolve(v, addr, flags, t)
		if faultSignalPending(ret, t, user) {
			if !user {
				if a.cfg.Version.AtLeast(6, 3) {
					return arch.FixupOrOops(r) // no_context
				}
				// 6.1 just returns: the uaccess instruction runs again,
				// faults again, and with the signal still pending the
				// wait ends at once, forever.
				note(t, arch.RuleRetryLivelock)
			}
			return kernel.Restart
		}
		if ret&vmfault.Completed != 0 {
			return kernel.Restart // the lock is already released
		}
		if ret&vmfault.Retry != 0 {
			// The lock was dropped in handle_mm_fault.
			if retries >= a.MaxRetries {
				return kernel.Livelock
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
func (a *RISCV) underVMALock(t *kernel.Task, r *kernel.Regs, m *mm.MM, flags vmfault.Flags) (kernel.TrapAction, vmfault.Flags, bool) {
	v := m.LockVMAUnderRCUCached(t.VMACache(), r.Addr)
	fault.TraceVMALock(t.Tracer(), m, v)
	if v == nil {
		return kernel.Restart, flags, false
	}
	if riscv.AccessError(v, r.HW) {
		traceAccess(t, r.Access, true)
		v.EndRead()
		if !a.cfg.Version.AtLeast(6, 10) {
			return kernel.Restart, flags, false // the mmap lock finds it again
		}
		return badAreaNosemaphore(t, r, abi.SEGV_ACCERR), flags, true
	}
	traceAccess(t, r.Access, false)
	ret := a.Resolve(v, r.Addr, flags|vmfault.FlagVMALock, t)
	if ret&(vmfault.Retry|vmfault.Completed) == 0 {
		v.EndRead()
	}
	if ret&vmfault.Retry == 0 {
		return a.done(t, r, ret), flags, true
	}
	fault.TraceRetry(t.Tracer(), true, ret&vmfault.Major != 0)
	if ret&vmfault.Major != 0 {
		flags |= vmfault.FlagTried
	}
	if faultSignalPending(ret, t, r.User) {
		// Phase A is for user faults only: the kernel-mode branch of the
		// C (no_context) is dead code.
		return kernel.Restart, flags, true
	}
	return kernel.Restart, flags, false
}

// done is the tail of handle_page_fault: a result without VM_FAULT_ERROR
// returns to the instruction; any other goes to mm_fault_error.
func (a *RISCV) done(t *kernel.Task, r *kernel.Regs, ret vmfault.Reason) kernel.TrapAction {
	if tr := t.Tracer(); tr.On() {
		tr.Decide("handle_page_fault", "done: "+memory.DescribeReason(ret))
	}
	if ret&vmfault.Error == 0 {
		return kernel.Restart
	}
	return a.mmFaultError(t, r, ret)
}

// mmFaultError is mm_fault_error, in riscv's order: kernel mode goes to
// no_context whatever the bits; then OOM, SIGBUS (with the poison bits
// from 6.6), SIGSEGV, and BUG() for anything else.
func (a *RISCV) mmFaultError(t *kernel.Task, r *kernel.Regs, ret vmfault.Reason) kernel.TrapAction {
	tr := t.Tracer()
	if !r.User {
		tr.Decide("mm_fault_error", "kernel mode: no_context")
		return arch.FixupOrOops(r) // no_context
	}
	poison := ret & (vmfault.HWPoison | vmfault.HWPoisonLarge)
	sigbus := vmfault.SigBus
	if a.cfg.Version.AtLeast(6, 6) {
		sigbus |= poison
	}
	switch {
	case ret&vmfault.OOM != 0:
		// pagefault_out_of_memory: back to user mode, which retries the
		// access, or dies if the OOM killer chose this task.
		return kernel.Restart
	case ret&sigbus != 0:
		if poison != 0 && a.cfg.MemoryFailure {
			// The generic handler says BUS_MCEERR_AR with the page shift.
			note(t, arch.RulePoisonADRERR)
		}
		t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGBUS, Code: abi.BUS_ADRERR, Addr: r.Addr})
		return kernel.Restart
	case ret&vmfault.SigSegv != 0:
		if poison != 0 {
			note(t, arch.RulePoisonUnhandled) // before 6.6 the poison bit is not read
		}
		t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGSEGV, Code: abi.SEGV_MAPERR, Addr: r.Addr})
		return kernel.Restart
	}
	if poison != 0 {
		note(t, arch.RulePoisonUnhandled)
	}
	tr.Decide("mm_fault_error", "no branch takes these bits: BUG()")
	return kernel.Oops // BUG()
}

// badAreaNosemaphore is bad_area_nosemaphore (and bad_area, once its
// caller dropped the mmap lock): SIGSEGV with code in user mode,
// no_context in kernel mode.
func badAreaNosemaphore(t *kernel.Task, r *kernel.Regs, code abi.Code) kernel.TrapAction {
	if tr := t.Tracer(); tr.On() {
		tr.Decide("bad_area_nosemaphore", abi.CodeName(abi.SIGSEGV, code))
	}
	if !r.User {
		return arch.FixupOrOops(r)
	}
	t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGSEGV, Code: code, Addr: r.Addr})
	return kernel.Restart
}
