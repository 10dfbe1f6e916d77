package native

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch"
	"github.com/faultline/faultline/arch/x86"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/fault"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/vmfault"
)

// X86 is an x86_64 machine whose page faults take today's
// arch/x86/mm/fault.c path instead of the generic handler: the MMU, the
// #GP entry and vsyscall emulation are the generic front end's
// (x86.Arch); Trap is exc_page_fault as Linux has it.
//
// The model follows Linux 6.12 (Debian 6.12.117, read in full) for 6.18:
// native-handlers.md, which read a 6.17-rc fault.c, lists no later
// change to x86's that a fault can observe. At 6.1 (Debian 6.1.192) the
// one observable difference is the absence of the per-VMA lock (x86
// gained it in 6.4): 6.1.192 already has lock_mm_and_find_vma (the
// StackRot backport), and its kernelmode_fixup_or_oops no longer has
// vsyscall's sig_on_uaccess_err (gone there as in 6.10), so its fixups
// are 6.12's.
type X86 struct {
	*x86.Arch
	cfg config.Kernel
	Resolution
}

// NewX86 returns the native x86_64 machine for a kernel configured as cfg.
func NewX86(cfg config.Kernel) *X86 {
	return &X86{Arch: x86.New(cfg), cfg: cfg, Resolution: defaultResolution()}
}

// Trap implements kernel.Arch: the #GP entry (hardware, shared with the
// generic front end) and exc_page_fault.
func (a *X86) Trap(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	if r.Trap == x86.TrapGP {
		return x86.GeneralProtection(t, r)
	}
	// Filled in field by field: a composite literal of a variable whose
	// address is taken is built in a temporary and copied.
	var f x86Fault
	f.a, f.t = a, t
	f.r = *r
	f.ec = r.HW
	return f.handlePageFault()
}

// x86Fault is one page fault in do_user_addr_fault or do_kern_addr_fault:
// the registers, the hardware error code and the FAULT_FLAG_* built. It
// holds a copy of the registers, not the caller's: escape analysis would
// otherwise move every Regs a caller traps with to the heap, since the
// task it holds beside them escapes into handle_mm_fault.
type x86Fault struct {
	a       *X86
	t       *kernel.Task
	r       kernel.Regs
	ec      uint64 // the X86_PF_* error code
	flags   vmfault.Flags
	retries int
}

// fixupArgs are what one kernelmode_fixup_or_oops call site passes: the
// signal, si_code and protection key a user access would have got. Since
// vsyscall's sig_on_uaccess_err went (6.10; backported to 6.1.y) nothing
// reads them, but the five call sites still pass four different pairs.
type fixupArgs struct {
	signo abi.Signal
	code  abi.Code
	pkey  int
}

// kernelmodeFixupOrOops is kernelmode_fixup_or_oops: the exception-table
// fixup, else page_fault_oops. args are unused, as in the C.
func (f *x86Fault) kernelmodeFixupOrOops(args fixupArgs) kernel.TrapAction {
	_ = args
	return arch.FixupOrOops(&f.r)
}

// handlePageFault is handle_page_fault: a fault on the kernel's part of
// the address space (fault_in_kernel_space: TASK_SIZE_MAX and above, the
// vsyscall page excepted) never looks at the mm.
func (f *x86Fault) handlePageFault() kernel.TrapAction {
	if f.r.Addr >= f.a.TaskSize() && !x86.IsVsyscall(f.r.Addr) {
		return f.doKernAddrFault()
	}
	return f.doUserAddrFault()
}

// doKernAddrFault is do_kern_addr_fault on x86_64: no vmalloc fault, no
// spurious fault in the model (the kernel half is not mapped), so a bad
// area without the mmap lock, from either mode.
func (f *x86Fault) doKernAddrFault() kernel.TrapAction {
	f.t.Tracer().Step("do_kern_addr_fault", "a kernel address: no VMA, no lock")
	return f.badAreaNosemaphore(0, abi.SEGV_MAPERR)
}

// doUserAddrFault is do_user_addr_fault.
func (f *x86Fault) doUserAddrFault() kernel.TrapAction {
	a, t, r, ec := f.a, f.t, &f.r, f.ec
	tr := t.Tracer()
	if ec&(x86.PFUser|x86.PFInstr) == x86.PFInstr {
		// SMEP: the kernel tried to execute user memory; no VMA lookup,
		// no exception table (page_fault_oops).
		tr.Step("do_user_addr_fault", "SMEP: the kernel executed user memory: oops")
		return kernel.Oops
	}
	if ec&x86.PFRsvd != 0 {
		tr.Step("pgtable_bad", "a reserved bit is set: oops")
		return kernel.Oops // pgtable_bad
	}
	if ec&x86.PFUser == 0 && !r.UAccess {
		// SMAP: a kernel access to user memory without EFLAGS.AC is a
		// bug; page_fault_oops without looking for a fixup.
		tr.Step("do_user_addr_fault", "SMAP: a kernel access to user memory outside a uaccess routine: oops")
		return kernel.Oops
	}
	m := t.MM()
	if r.NoFault || m == nil {
		// faulthandler_disabled() or no user context.
		tr.Step("faulthandler_disabled", "page faults disabled or no mm: no lock is taken")
		return f.badAreaNosemaphore(0, abi.SEGV_MAPERR)
	}

	f.flags = vmfault.FlagDefault
	if ec&x86.PFWrite != 0 {
		f.flags |= vmfault.FlagWrite
	}
	if ec&x86.PFInstr != 0 {
		f.flags |= vmfault.FlagInstruction
	}
	if r.User { // from the registers, not from X86_PF_USER
		f.flags |= vmfault.FlagUser
	}
	if x86.IsVsyscall(r.Addr) {
		if act, ok := a.EmulateVsyscall(t, r); ok {
			return act
		}
		tr.Step("emulate_vsyscall", "not a call it emulates: the fault goes on")
	}

	// Phase A, user faults only: the per-VMA lock (x86 since 6.4).
	if f.flags&vmfault.FlagUser != 0 && a.cfg.Version.AtLeast(6, 4) {
		if act, final := f.underVMALock(m); final {
			return act
		}
	}
	return f.underMmapLock(m)
}

// underVMALock is phase A of do_user_addr_fault: lock_vma_under_rcu,
// access_error, handle_mm_fault under the VMA lock. It reports false when
// the fault goes on to lock_mmap.
func (f *x86Fault) underVMALock(m *mm.MM) (kernel.TrapAction, bool) {
	v := m.LockVMAUnderRCUCached(f.t.VMACache(), f.r.Addr)
	fault.TraceVMALock(f.t.Tracer(), m, v)
	if v == nil {
		return 0, false
	}
	if f.accessError(v) {
		f.traceDenied(v)
		if f.a.cfg.Version.AtLeast(6, 10) {
			// "mm: accelerate pagefault when badaccess" (6.10): final.
			return f.badAreaAccessError(v, true), true
		}
		v.EndRead() // before 6.10: look again under the mmap lock
		f.t.Tracer().Step("do_user_addr_fault", "before 6.10: look again under the mmap lock")
		return 0, false
	}
	traceAccess(f.t, f.r.Access, false)
	ret := f.a.Resolve(v, f.r.Addr, f.flags|vmfault.FlagVMALock, f.t)
	if ret&(vmfault.Retry|vmfault.Completed) == 0 {
		v.EndRead()
	}
	if ret&vmfault.Retry == 0 {
		return f.done(ret), true
	}
	f.retries++
	fault.TraceRetry(f.t.Tracer(), true, ret&vmfault.Major != 0)
	if ret&vmfault.Major != 0 {
		f.flags |= vmfault.FlagTried
	}
	if faultSignalPending(ret, f.t, f.r.User) {
		if !f.r.User { // dead code: phase A runs for user faults only
			note(f.t, arch.RuleFixupArgs)
			return f.kernelmodeFixupOrOops(fixupArgs{abi.SIGBUS, abi.BUS_ADRERR, 0}), true
		}
		return kernel.Restart, true
	}
	return 0, false
}

// underMmapLock is phase B of do_user_addr_fault, from the retry label:
// lock_mm_and_find_vma, access_error, handle_mm_fault, and a retry with
// FAULT_FLAG_TRIED each time it dropped the lock.
func (f *x86Fault) underMmapLock(m *mm.MM) kernel.TrapAction {
	hasFixup := kernel.SearchExceptionTables(f.r.Insn)
	for {
		v := m.LockAndFindVMA(f.r.Addr, f.t, f.r.User, hasFixup)
		if v == nil {
			return f.badAreaNosemaphore(0, abi.SEGV_MAPERR)
		}
		if f.accessError(v) {
			f.traceDenied(v)
			return f.badAreaAccessError(v, false)
		}
		traceAccess(f.t, f.r.Access, false)
		ret := f.a.Resolve(v, f.r.Addr, f.flags, f.t)
		if faultSignalPending(ret, f.t, f.r.User) {
			// The lock was dropped by handle_mm_fault.
			if !f.r.User {
				note(f.t, arch.RuleFixupArgs)
				return f.kernelmodeFixupOrOops(fixupArgs{abi.SIGBUS, abi.BUS_ADRERR, 0})
			}
			return kernel.Restart
		}
		if ret&vmfault.Completed != 0 {
			return kernel.Restart // done, the lock released too
		}
		if ret&vmfault.Retry != 0 {
			f.retries++
			if f.retries > f.a.MaxRetries {
				return kernel.Livelock
			}
			fault.TraceRetry(f.t.Tracer(), false, true)
			f.flags |= vmfault.FlagTried
			continue
		}
		m.MmapReadUnlock()
		return f.done(ret)
	}
}

// done is the tail of do_user_addr_fault from the done label: the
// VM_FAULT_ERROR bits, in x86's order. Preconditions: no lock is held.
func (f *x86Fault) done(ret vmfault.Reason) kernel.TrapAction {
	if f.t.Tracer() != nil {
		f.traceDone(ret)
	}
	if ret&vmfault.Error == 0 {
		return kernel.Restart
	}
	user := f.r.User
	if !user && f.t.FatalSignalPending() {
		return f.kernelmodeFixupOrOops(fixupArgs{})
	}
	switch {
	case ret&vmfault.OOM != 0:
		if !user {
			note(f.t, arch.RuleFixupArgs)
			return f.kernelmodeFixupOrOops(fixupArgs{abi.SIGSEGV, abi.SEGV_MAPERR, 0})
		}
		// pagefault_out_of_memory: the OOM killer has run; return to
		// user space, which retries the fault or dies of the kill.
		return kernel.Restart
	case ret&(vmfault.SigBus|vmfault.HWPoison|vmfault.HWPoisonLarge) != 0:
		return f.doSigbus(ret)
	case ret&vmfault.SigSegv != 0:
		return f.badAreaNosemaphore(0, abi.SEGV_MAPERR)
	}
	// BUG(): an error bit no branch takes (VM_FAULT_FALLBACK leaking out
	// of handle_mm_fault).
	return kernel.Oops
}

// doSigbus is do_sigbus: poison is tested first (with
// CONFIG_MEMORY_FAILURE), a small page winning over a huge one.
func (f *x86Fault) doSigbus(ret vmfault.Reason) kernel.TrapAction {
	f.t.Tracer().Decide("do_sigbus", "")
	poison := ret&(vmfault.HWPoison|vmfault.HWPoisonLarge) != 0
	if !f.r.User {
		if poison && f.a.cfg.MemoryFailure {
			note(f.t, arch.RuleFixupArgs) // BUS_ADRERR, where a user access gets BUS_MCEERR_AR
		}
		return f.kernelmodeFixupOrOops(fixupArgs{abi.SIGBUS, abi.BUS_ADRERR, 0})
	}
	if poison && f.a.cfg.MemoryFailure {
		var lsb uint
		if ret&vmfault.HWPoisonLarge != 0 {
			lsb = memory.HStateShift(ret.HIndex(), 12) // hstate_index_to_shift
		}
		if ret&vmfault.HWPoison != 0 {
			lsb = 12 // PAGE_SHIFT: x86_64 has 4 KiB pages only
		}
		// force_sig_mceerr
		f.t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGBUS, Code: abi.BUS_MCEERR_AR, Addr: f.r.Addr, LSB: uint8(lsb)})
		return kernel.Restart
	}
	f.t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGBUS, Code: abi.BUS_ADRERR, Addr: f.r.Addr})
	return kernel.Restart
}

// badAreaAccessError is bad_area_access_error: SEGV_PKUERR with the VMA's
// key when protection keys refused the access, else SEGV_ACCERR; then
// __bad_area drops the lock the fault holds (the VMA lock in phase A, the
// mmap lock in phase B).
func (f *x86Fault) badAreaAccessError(v *mm.VMA, vmaLocked bool) kernel.TrapAction {
	pkey, code := 0, abi.SEGV_ACCERR
	if f.accessFromPKeys(v) {
		pkey, code = v.PKey, abi.SEGV_PKUERR
	}
	mm.ReleaseFaultLock(v, vmaLocked)
	return f.badAreaNosemaphore(pkey, code)
}

// traceDone traces done's reading of the bits.
func (f *x86Fault) traceDone(ret vmfault.Reason) {
	f.t.Tracer().Decide("do_user_addr_fault", "done: "+memory.DescribeReason(ret))
}

// traceDenied traces an access error on v with the si_code
// bad_area_access_error will give it.
func (f *x86Fault) traceDenied(v *mm.VMA) {
	if tr := f.t.Tracer(); tr.On() {
		code := abi.SEGV_ACCERR
		if f.accessFromPKeys(v) {
			code = abi.SEGV_PKUERR
		}
		fault.TraceAccess(tr, f.r.Access, code)
	}
}

// accessFromPKeys is bad_area_access_from_pkeys.
func (f *x86Fault) accessFromPKeys(v *mm.VMA) bool {
	if !f.a.cfg.PKeys { // X86_FEATURE_OSPKE
		return false
	}
	return f.ec&x86.PFPK != 0 || !f.a.AccessPermitted(v, f.ec&x86.PFWrite != 0, f.ec&x86.PFInstr != 0, false)
}

// accessError is access_error (no SGX and no shadow stacks in the model).
func (f *x86Fault) accessError(v *mm.VMA) bool {
	ec := f.ec
	if ec&x86.PFPK != 0 {
		return true
	}
	if !f.a.AccessPermitted(v, ec&x86.PFWrite != 0, ec&x86.PFInstr != 0, false) {
		return true
	}
	if ec&x86.PFWrite != 0 {
		return v.Flags&mm.VMWrite == 0
	}
	if ec&x86.PFProt != 0 {
		return true // a read or fetch of a present entry
	}
	return !v.Accessible()
}

// badAreaNosemaphore is __bad_area_nosemaphore: a kernel-mode fault is
// fixed up or oopses; a user-mode fault without X86_PF_USER (an implicit
// supervisor access) oopses; else SIGSEGV (force_sig_pkuerr with the key
// for SEGV_PKUERR, force_sig_fault otherwise).
func (f *x86Fault) badAreaNosemaphore(pkey int, code abi.Code) kernel.TrapAction {
	if tr := f.t.Tracer(); tr.On() {
		tr.Decide("__bad_area_nosemaphore", abi.CodeName(abi.SIGSEGV, code))
	}
	if !f.r.User {
		return f.kernelmodeFixupOrOops(fixupArgs{abi.SIGSEGV, code, pkey})
	}
	if f.ec&x86.PFUser == 0 {
		return kernel.Oops
	}
	if code != abi.SEGV_PKUERR {
		pkey = 0
	}
	f.t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGSEGV, Code: code, Addr: f.r.Addr, PKey: pkey})
	return kernel.Restart
}
