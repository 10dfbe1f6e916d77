package native

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch"
	"github.com/faultline/faultline/arch/s390"
	"github.com/faultline/faultline/config"
	faultpkg "github.com/faultline/faultline/fault"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/sched"
	"github.com/faultline/faultline/vmfault"
)

// S390 is today's s390x fault handler, arch/s390/mm/fault.c
// (do_dat_exception, do_protection_exception, do_exception,
// handle_fault_error_nolock) at the configured kernel version, on the
// DAT and program-check decode of the s390 front end.
//
// Read: a post-6.16 copy of fault.c (cpu_has_nx, lock_mm_and_find_vma)
// for 6.18, a 6.8-era copy with the stable fix df39038cd895 ("Fix
// VM_FAULT_HWPOISON handling in do_exception()", 6.11) for 6.12, and the
// 6.13 s390 pull's shortlog for where they part. By version:
//
//   - 6.13 (57d1da4fd870 "Convert to LOCK_MM_AND_FIND_VMA", a5600f05d3d7
//     "Cleanup fault error handling", with KVM's guest faults moved out):
//     lock_mm_and_find_vma (a killable wait, none for a kernel
//     instruction without a fixup), VM_FAULT_RETRY tested before
//     VM_FAULT_ERROR, VM_FAULT_HWPOISON_LARGE raising SIGBUS BUS_ADRERR.
//     Before: a non-killable mmap_read_lock, find_vma, expand_stack()
//     (arch.RuleS390MmapLockUninterruptible), the error bits first, and
//     VM_FAULT_HWPOISON_LARGE reaching BUG() (arch.RuleS390PoisonBUG).
//   - 6.11 (df39038cd895): VM_FAULT_HWPOISON raises SIGBUS BUS_ADRERR;
//     before, BUG() (a poison marker since 6.6 can return it).
//   - 6.10 ("mm: accelerate pagefault when badaccess"): an access error
//     under the per-VMA lock is final; before, the mmap lock looks again.
//   - 6.4: the per-VMA lock (phase A) for user faults.
//
// 6.1's private VM_FAULT_BADMAP/BADACCESS/BADCONTEXT/SIGNAL encoding
// (do_fault_error) ends in the same signals and fixups as 6.8's
// handle_fault_error_nolock, so 6.1 is modeled by the rules above. In
// every version: SIGSEGV is decoded before SIGBUS
// (arch.RuleSigsegvBeforeSigbus), poison is a plain SIGBUS BUS_ADRERR
// without si_addr_lsb (arch.RulePoisonADRERR: s390 has no
// CONFIG_MEMORY_FAILURE), FAULT_FLAG_INSTRUCTION is never set, and every
// signal's si_addr is the TEID's page.
type S390 struct {
	*s390.Arch
	cfg config.Kernel
	Resolution
}

// NewS390 returns the native s390x machine for a kernel configured as
// cfg.
func NewS390(cfg config.Kernel) *S390 {
	return &S390{Arch: s390.New(cfg), cfg: cfg, Resolution: defaultResolution()}
}

// Trap implements kernel.Arch: do_protection_exception for a protection
// exception, do_dat_exception for the translation exceptions.
func (a *S390) Trap(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	if r.Trap != s390.PgmProtection {
		return a.doException(t, r, mm.VMAccessFlags)
	}
	if r.HW&s390.TEIDB61 == 0 {
		return s390.LowAddress(t, r)
	}
	if r.HW&s390.TEIDB56 != 0 {
		// cpu_has_nx() && teid.b56: the TEID gets the PSW's page.
		t.Tracer().Step("do_protection_exception", "instruction-execution protection: SEGV_ACCERR, no VMA looked up")
		return a.nolock(t, r, abi.SEGV_ACCERR)
	}
	return a.doException(t, r, mm.VMWrite)
}

// nolock is handle_fault_error_nolock: user mode gets SIGSEGV with code
// (SEGV_MAPERR for 0, with a WARN) at the TEID's page; kernel mode the
// fixup, else die.
func (a *S390) nolock(t *kernel.Task, r *kernel.Regs, code abi.Code) kernel.TrapAction {
	if tr := t.Tracer(); tr.On() {
		tr.Decide("handle_fault_error_nolock", abi.CodeName(abi.SIGSEGV, code)+" in user mode, fixup or die in kernel mode")
	}
	if !r.User {
		return arch.FixupOrOops(r)
	}
	if code == 0 {
		code = abi.SEGV_MAPERR
	}
	t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGSEGV, Code: code, Addr: s390.FaultAddress(r.HW)})
	return kernel.Restart
}

// doException is do_exception; access is VM_ACCESS_FLAGS for a
// translation exception, VM_WRITE for a protection exception.
func (a *S390) doException(t *kernel.Task, r *kernel.Regs, access mm.VMFlags) kernel.TrapAction {
	addr := s390.FaultAddress(r.HW)
	m := t.MM()
	if s390.IsKernelFault(r.User, r.HW) || r.NoFault || m == nil {
		t.Tracer().Step("do_exception", "a kernel-space fault, page faults disabled or no mm: no lock is taken")
		return a.nolock(t, r, 0)
	}
	flags := vmfault.FlagDefault
	if r.User {
		flags |= vmfault.FlagUser
	}
	if s390.FaultIsWrite(r.HW) {
		access = mm.VMWrite
	}
	if access == mm.VMWrite {
		flags |= vmfault.FlagWrite
	}
	// No FAULT_FLAG_INSTRUCTION: the TEID cannot say.
	if r.User && a.cfg.Version.AtLeast(6, 4) {
		act, f, done := a.underVMALock(t, r, m, addr, flags, access)
		if done {
			return act
		}
		flags = f
	}
	if a.cfg.Version.AtLeast(6, 13) {
		return a.lockMmAndFindVMA(t, r, m, addr, flags, access)
	}
	return a.before613(t, r, m, addr, flags, access)
}

// underVMALock is phase A, the user fault under the per-VMA lock alone.
// It reports whether it ended the fault, and returns the flags the fault
// goes on with under the mmap lock when it did not.
func (a *S390) underVMALock(t *kernel.Task, r *kernel.Regs, m *mm.MM, addr uint64, flags vmfault.Flags, access mm.VMFlags) (kernel.TrapAction, vmfault.Flags, bool) {
	v := m.LockVMAUnderRCUCached(t.VMACache(), addr)
	faultpkg.TraceVMALock(t.Tracer(), m, v)
	if v == nil {
		return kernel.Restart, flags, false
	}
	if v.Flags&access == 0 {
		traceAccess(t, r.Access, true)
		v.EndRead()
		if !a.cfg.Version.AtLeast(6, 10) {
			return kernel.Restart, flags, false // the mmap lock finds it again
		}
		return a.nolock(t, r, abi.SEGV_ACCERR), flags, true
	}
	traceAccess(t, r.Access, false)
	ret := a.Resolve(v, addr, flags|vmfault.FlagVMALock, t)
	if ret&(vmfault.Retry|vmfault.Completed) == 0 {
		v.EndRead()
	}
	if ret&vmfault.Retry == 0 {
		return a.done(t, r, ret), flags, true
	}
	faultpkg.TraceRetry(t.Tracer(), true, ret&vmfault.Major != 0)
	if ret&vmfault.Major != 0 {
		flags |= vmfault.FlagTried
	}
	if faultSignalPending(ret, t, r.User) {
		return kernel.Restart, flags, true // user mode: the signal is delivered
	}
	return kernel.Restart, flags, false
}

// lockMmAndFindVMA is phase B from 6.13: lock_mm_and_find_vma, RETRY
// before the error bits.
func (a *S390) lockMmAndFindVMA(t *kernel.Task, r *kernel.Regs, m *mm.MM, addr uint64, flags vmfault.Flags, access mm.VMFlags) kernel.TrapAction {
	hasFixup := kernel.SearchExceptionTables(r.Insn)
	for retries := 0; ; retries++ {
		v := m.LockAndFindVMA(addr, t, r.User, hasFixup)
		if v == nil {
			return a.nolock(t, r, abi.SEGV_MAPERR)
		}
		if v.Flags&access == 0 {
			traceAccess(t, r.Access, true)
			m.MmapReadUnlock() // handle_fault_error
			return a.nolock(t, r, abi.SEGV_ACCERR)
		}
		traceAccess(t, r.Access, false)
		ret := a.Resolve(v, addr, flags, t)
		if faultSignalPending(ret, t, r.User) {
			if !r.User {
				return a.nolock(t, r, 0)
			}
			return kernel.Restart
		}
		if ret&vmfault.Completed != 0 {
			return kernel.Restart // the lock is already released
		}
		if ret&vmfault.Retry != 0 {
			if retries >= a.MaxRetries {
				return kernel.Livelock
			}
			faultpkg.TraceRetry(t.Tracer(), false, true)
			flags |= vmfault.FlagTried
			continue
		}
		m.MmapReadUnlock()
		return a.done(t, r, ret)
	}
}

// readLock is 6.12's mmap_read_lock: it never ends for a signal. A
// contended lock is where the uninterruptible wait departs from the
// generic handler's killable one.
func (a *S390) readLock(t *kernel.Task, m *mm.MM) {
	if m.MmapReadTryLock() {
		return
	}
	t.Tracer().Step("mmap_read_lock", "contended: an uninterruptible wait")
	note(t, arch.RuleS390MmapLockUninterruptible)
	m.MmapReadLock(t, sched.Uninterruptible)
}

// expandStack is expand_stack(mm, addr) as 6.12 calls it with the read
// lock held: it drops it, takes the write lock killably, finds the VMA
// again and grows it down, then downgrades. nil means the read lock is
// not held.
func expandStack(t *kernel.Task, m *mm.MM, addr uint64) *mm.VMA {
	m.MmapReadUnlock()
	if !m.MmapWriteLock(t, sched.Killable) {
		return nil
	}
	v := m.FindVMA(addr)
	if v != nil && v.Start > addr && (v.Flags&mm.VMGrowsDown == 0 || m.ExpandStackLocked(v, addr) != nil) {
		v = nil
	}
	if v == nil {
		m.MmapWriteUnlock()
		return nil
	}
	m.MmapWriteDowngrade()
	return v
}

// before613 is phase B before 6.13: mmap_read_lock, find_vma and
// expand_stack, the error bits tested before RETRY.
func (a *S390) before613(t *kernel.Task, r *kernel.Regs, m *mm.MM, addr uint64, flags vmfault.Flags, access mm.VMFlags) kernel.TrapAction {
	t.Tracer().Step("do_exception", "before 6.13: mmap_read_lock, find_vma, expand_stack")
	a.readLock(t, m)
	for retries := 0; ; retries++ {
		v := m.FindVMA(addr)
		if v == nil {
			m.MmapReadUnlock()
			return a.nolock(t, r, abi.SEGV_MAPERR)
		}
		if v.Start > addr {
			if v.Flags&mm.VMGrowsDown == 0 {
				m.MmapReadUnlock()
				return a.nolock(t, r, abi.SEGV_MAPERR)
			}
			if v = expandStack(t, m, addr); v == nil {
				return a.nolock(t, r, abi.SEGV_MAPERR)
			}
		}
		if v.Flags&access == 0 {
			traceAccess(t, r.Access, true)
			m.MmapReadUnlock()
			return a.nolock(t, r, abi.SEGV_ACCERR)
		}
		traceAccess(t, r.Access, false)
		ret := a.Resolve(v, addr, flags, t)
		if faultSignalPending(ret, t, r.User) {
			if !r.User {
				return a.nolock(t, r, 0)
			}
			return kernel.Restart
		}
		if ret&vmfault.Completed != 0 {
			return kernel.Restart
		}
		if ret&vmfault.Error != 0 {
			// The C unlocks here; with RETRY beside an error bit the
			// lock would already be gone, which handle_mm_fault never
			// returns.
			if ret&vmfault.Retry == 0 {
				m.MmapReadUnlock()
			}
			return a.done(t, r, ret)
		}
		if ret&vmfault.Retry != 0 {
			if retries >= a.MaxRetries {
				return kernel.Livelock
			}
			faultpkg.TraceRetry(t.Tracer(), false, true)
			flags |= vmfault.FlagTried
			a.readLock(t, m)
			continue
		}
		m.MmapReadUnlock()
		return a.done(t, r, ret)
	}
}

// done is do_exception's tail: a result without an error bit returns;
// the error bits in s390's order: OOM, SIGSEGV, then SIGBUS (with the
// poison bits the version knows), else BUG(). Kernel mode goes to
// handle_fault_error_nolock in each branch, not before the chain.
func (a *S390) done(t *kernel.Task, r *kernel.Regs, ret vmfault.Reason) kernel.TrapAction {
	if tr := t.Tracer(); tr.On() {
		tr.Decide("do_exception", "done: "+memory.DescribeReason(ret))
	}
	if ret&vmfault.Error == 0 {
		return kernel.Restart
	}
	poison := ret & (vmfault.HWPoison | vmfault.HWPoisonLarge)
	sigbus := vmfault.SigBus
	switch v := a.cfg.Version; {
	case v.AtLeast(6, 13):
		sigbus |= poison
	case v.AtLeast(6, 11):
		sigbus |= vmfault.HWPoison
	}
	switch {
	case ret&vmfault.OOM != 0:
		if !r.User {
			return a.nolock(t, r, 0)
		}
		return kernel.Restart // pagefault_out_of_memory
	case ret&vmfault.SigSegv != 0:
		if r.User && ret&(vmfault.SigBus|poison) != 0 {
			note(t, arch.RuleSigsegvBeforeSigbus)
		}
		if !r.User {
			return a.nolock(t, r, 0)
		}
		t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGSEGV, Code: abi.SEGV_MAPERR, Addr: s390.FaultAddress(r.HW)})
		return kernel.Restart
	case ret&sigbus != 0:
		if !r.User {
			return a.nolock(t, r, 0)
		}
		if ret&poison != 0 && a.cfg.MemoryFailure {
			note(t, arch.RulePoisonADRERR) // the generic handler says BUS_MCEERR_AR
		}
		t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGBUS, Code: abi.BUS_ADRERR, Addr: s390.FaultAddress(r.HW)})
		return kernel.Restart
	}
	if poison != 0 {
		note(t, arch.RuleS390PoisonBUG)
	}
	t.Tracer().Decide("do_exception", "unexpected fault flags: BUG()")
	return kernel.Oops
}
