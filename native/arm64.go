package native

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch"
	"github.com/faultline/faultline/arch/arm64"
	"github.com/faultline/faultline/config"
	faultpkg "github.com/faultline/faultline/fault"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/vmfault"
)

// arm64 6.1's private results of __do_page_fault, beside the VM_FAULT_*
// bits (they overlap VM_FAULT_HINDEX_MASK, as in the C).
const (
	arm64BadMap    vmfault.Reason = 0x010000 // VM_FAULT_BADMAP
	arm64BadAccess vmfault.Reason = 0x020000 // VM_FAULT_BADACCESS
)

// ARM64 is today's arm64 fault handler, arch/arm64/mm/fault.c
// (do_mem_abort, do_translation_fault, do_bad_area, do_page_fault,
// __do_kernel_fault) at the configured kernel version, on the MMU and
// trap decode of the arm64 front end.
//
// Versions: 6.18 is 6.12.117's fault.c (the catalog lists no arm64 change
// since); 6.1 is 6.1.192's. Between them: the per-VMA lock (6.4), an
// access error under it reported directly instead of retried under the
// mmap lock (6.10), and the private VM_FAULT_BADMAP / VM_FAULT_BADACCESS
// encoding, replaced by a si_code at 6.10. POE (arm64's protection keys)
// is not modeled.
type ARM64 struct {
	*arm64.Arch
	Resolution
	ver    config.Version
	policy arm64.Policy
}

// NewARM64 returns the native arm64 machine for a kernel configured as
// cfg.
func NewARM64(cfg config.Kernel) *ARM64 {
	return &ARM64{
		Arch:       arm64.New(cfg),
		Resolution: defaultResolution(),
		ver:        cfg.Version,
		policy:     arm64.Policy{EPAN: cfg.EPAN},
	}
}

// Trap implements kernel.Arch (do_mem_abort): the fault status chooses
// the handler, as fault_info does.
func (a *ARM64) Trap(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	switch arm64.FSCType(r.HW) {
	case arm64.FSCTrans:
		return a.doTranslationFault(t, r)
	case arm64.FSCAccess, arm64.FSCPerm:
		return a.doPageFault(t, r)
	}
	panic("native: an arm64 abort the MMU does not raise")
}

// doTranslationFault is do_translation_fault: a TTBR0 address goes to
// do_page_fault, any other to do_bad_area.
func (a *ARM64) doTranslationFault(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	if arm64.IsTTBR0Addr(arm64.UntaggedAddr(r.Addr)) {
		return a.doPageFault(t, r)
	}
	t.Tracer().Step("do_translation_fault", "not a TTBR0 address: do_bad_area")
	return a.doBadArea(t, r)
}

// infCode is the si_code fault_info gives a fault status: SEGV_MAPERR
// for a translation fault, SEGV_ACCERR for access flag and permission
// faults.
func infCode(esr uint64) abi.Code {
	if arm64.FSCType(esr) == arm64.FSCTrans {
		return abi.SEGV_MAPERR
	}
	return abi.SEGV_ACCERR
}

// doBadArea is do_bad_area: a user fault gets fault_info's signal at FAR,
// a kernel fault __do_kernel_fault.
func (a *ARM64) doBadArea(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	t.Tracer().Decide("do_bad_area", "fault_info's signal, or __do_kernel_fault")
	if !r.User {
		return doKernelFault(r)
	}
	t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGSEGV, Code: infCode(r.HW), Addr: arm64.SiAddr(r.Addr)})
	return kernel.Restart
}

// doKernelFault is __do_kernel_fault: the exception-table fixup, never
// for an instruction abort, else die.
func doKernelFault(r *kernel.Regs) kernel.TrapAction {
	if arm64.EC(r.HW) != arm64.ECIAbtCur && kernel.SearchExceptionTables(r.Insn) {
		return kernel.Fixup
	}
	return kernel.Oops
}

// doPageFault is do_page_fault.
func (a *ARM64) doPageFault(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	addr := arm64.UntaggedAddr(r.Addr)
	m := t.MM()
	if r.NoFault || m == nil {
		// faulthandler_disabled() || !mm: no_context, in user mode too.
		t.Tracer().Step("faulthandler_disabled", "page faults disabled or no mm: no lock is taken")
		if r.User {
			note(t, arch.RuleUserNoContext)
		}
		return doKernelFault(r)
	}
	flags := vmfault.FlagDefault
	if r.User {
		flags |= vmfault.FlagUser
	}
	acc := arm64.AbortAccess(r.HW)
	switch acc {
	case mm.AccessExec:
		flags |= vmfault.FlagInstruction
	case mm.AccessWrite:
		flags |= vmfault.FlagWrite
	}
	vmFlags := a.policy.VMFlags(acc)
	if act, done := arm64.EL1UserPermission(r); done {
		t.Tracer().Step("do_page_fault", "a kernel permission fault on a user address (PAN): "+act.String())
		return act
	}
	if a.ver.AtLeast(6, 10) {
		return a.pageFault(t, r, m, addr, flags, vmFlags)
	}
	return a.pageFaultBefore610(t, r, m, addr, flags, vmFlags)
}

// pageFault is do_page_fault from lock_vma_under_rcu on, 6.10 and later:
// an access error is a si_code, and final under the per-VMA lock.
func (a *ARM64) pageFault(t *kernel.Task, r *kernel.Regs, m *mm.MM, addr uint64, flags vmfault.Flags, vmFlags mm.VMFlags) kernel.TrapAction {
	var fault vmfault.Reason
	if r.User {
		v := m.LockVMAUnderRCUCached(t.VMACache(), addr)
		faultpkg.TraceVMALock(t.Tracer(), m, v)
		if v != nil {
			if v.Flags&vmFlags == 0 {
				traceAccess(t, r.Access, true)
				v.EndRead()
				return a.badArea(t, r, 0, abi.SEGV_ACCERR)
			}
			traceAccess(t, r.Access, false)
			fault = a.Resolve(v, addr, flags|vmfault.FlagVMALock, t)
			if fault&(vmfault.Retry|vmfault.Completed) == 0 {
				v.EndRead()
			}
			if fault&vmfault.Retry == 0 {
				return a.done(t, r, fault)
			}
			faultpkg.TraceRetry(t.Tracer(), true, fault&vmfault.Major != 0)
			if fault&vmfault.Major != 0 {
				flags |= vmfault.FlagTried
			}
			if faultSignalPending(fault, t, r.User) {
				return kernel.Restart // user mode: the signal is delivered
			}
		}
	}
	hasFixup := kernel.SearchExceptionTables(r.Insn)
	for retries := 0; ; retries++ {
		v := m.LockAndFindVMA(addr, t, r.User, hasFixup)
		if v == nil {
			return a.badArea(t, r, 0, abi.SEGV_MAPERR)
		}
		if v.Flags&vmFlags == 0 {
			traceAccess(t, r.Access, true)
			m.MmapReadUnlock()
			return a.badArea(t, r, 0, abi.SEGV_ACCERR)
		}
		traceAccess(t, r.Access, false)
		fault = a.Resolve(v, addr, flags, t)
		if faultSignalPending(fault, t, r.User) {
			if !r.User {
				return doKernelFault(r)
			}
			return kernel.Restart
		}
		if fault&vmfault.Completed != 0 {
			return kernel.Restart
		}
		if fault&vmfault.Retry == 0 {
			m.MmapReadUnlock()
			return a.done(t, r, fault)
		}
		if retries >= a.MaxRetries {
			return kernel.Livelock
		}
		faultpkg.TraceRetry(t.Tracer(), false, true)
		flags |= vmfault.FlagTried
	}
}

// done is do_page_fault's done: label: success returns, an error goes to
// bad_area with SEGV_MAPERR.
func (a *ARM64) done(t *kernel.Task, r *kernel.Regs, fault vmfault.Reason) kernel.TrapAction {
	if tr := t.Tracer(); tr.On() {
		tr.Decide("do_page_fault", "done: "+memory.DescribeReason(fault))
	}
	if fault&vmfault.Error == 0 {
		return kernel.Restart
	}
	return a.badArea(t, r, fault, abi.SEGV_MAPERR)
}

// badArea is do_page_fault's bad_area: label (6.10 on): kernel mode goes
// to no_context; user mode decodes the bits in arm64's order: OOM,
// SIGBUS, poison, else SIGSEGV with code.
func (a *ARM64) badArea(t *kernel.Task, r *kernel.Regs, fault vmfault.Reason, code abi.Code) kernel.TrapAction {
	if tr := t.Tracer(); tr.On() {
		tr.Decide("do_page_fault", "bad_area: "+abi.CodeName(abi.SIGSEGV, code))
	}
	if !r.User {
		return doKernelFault(r)
	}
	return a.userError(t, r, fault, code)
}

// userError raises the signal of a failed user fault; code is the
// si_code of the SIGSEGV that ends the chain.
func (a *ARM64) userError(t *kernel.Task, r *kernel.Regs, fault vmfault.Reason, code abi.Code) kernel.TrapAction {
	far := arm64.SiAddr(r.Addr)
	switch {
	case fault&vmfault.OOM != 0:
		// pagefault_out_of_memory: the task retries, or the OOM killer
		// chose it and it dies.
		return kernel.Restart
	case fault&vmfault.SigBus != 0:
		if fault&(vmfault.HWPoison|vmfault.HWPoisonLarge) != 0 && a.Config().MemoryFailure {
			// Without CONFIG_MEMORY_FAILURE the generic handler says
			// BUS_ADRERR for poison too: no difference.
			note(t, arch.RuleSigbusPoisonADRERR)
		}
		t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGBUS, Code: abi.BUS_ADRERR, Addr: far})
	case fault&(vmfault.HWPoison|vmfault.HWPoisonLarge) != 0:
		pageShift := t.MM().PageShift() // PAGE_SHIFT
		lsb := pageShift
		if fault&vmfault.HWPoisonLarge != 0 {
			lsb = memory.HStateShift(fault.HIndex(), pageShift)
			if fault&vmfault.HWPoison != 0 && lsb != pageShift {
				note(t, arch.RulePoisonLargeWins)
			}
		}
		if !a.Config().MemoryFailure {
			note(t, arch.RulePoisonWithoutMemoryFailure)
		}
		// No #ifdef CONFIG_MEMORY_FAILURE around it.
		t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGBUS, Code: abi.BUS_MCEERR_AR, Addr: far, LSB: uint8(lsb)})
	default:
		t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGSEGV, Code: code, Addr: far})
	}
	return kernel.Restart
}

// pageFaultBefore610 is do_page_fault before 6.10, as 6.1.192 has it: no
// per-VMA lock before 6.4 (from 6.4 to 6.9 an access error under it is
// retried under the mmap lock); __do_page_fault returns the private
// VM_FAULT_BADMAP and VM_FAULT_BADACCESS, and the SIGSEGV is SEGV_ACCERR
// only when the result is exactly VM_FAULT_BADACCESS.
func (a *ARM64) pageFaultBefore610(t *kernel.Task, r *kernel.Regs, m *mm.MM, addr uint64, flags vmfault.Flags, vmFlags mm.VMFlags) kernel.TrapAction {
	var fault vmfault.Reason
	if r.User && a.ver.AtLeast(6, 4) {
		v := m.LockVMAUnderRCUCached(t.VMACache(), addr)
		faultpkg.TraceVMALock(t.Tracer(), m, v)
		if v != nil {
			if v.Flags&vmFlags != 0 {
				traceAccess(t, r.Access, false)
				fault = a.Resolve(v, addr, flags|vmfault.FlagVMALock, t)
				if fault&(vmfault.Retry|vmfault.Completed) == 0 {
					v.EndRead()
				}
				if fault&vmfault.Retry == 0 {
					return a.doneBefore610(t, r, fault)
				}
				faultpkg.TraceRetry(t.Tracer(), true, fault&vmfault.Major != 0)
				if fault&vmfault.Major != 0 {
					flags |= vmfault.FlagTried
				}
				if faultSignalPending(fault, t, r.User) {
					return kernel.Restart
				}
			} else {
				traceAccess(t, r.Access, true)
				t.Tracer().Step("do_page_fault", "before 6.10: look again under the mmap lock")
				v.EndRead() // retried under the mmap lock
			}
		}
	}
	hasFixup := kernel.SearchExceptionTables(r.Insn)
	for retries := 0; ; retries++ {
		v := m.LockAndFindVMA(addr, t, r.User, hasFixup)
		if v == nil {
			return a.doneBefore610(t, r, arm64BadMap)
		}
		// __do_page_fault
		if v.Flags&vmFlags == 0 {
			traceAccess(t, r.Access, true)
			fault = arm64BadAccess
		} else {
			traceAccess(t, r.Access, false)
			fault = a.Resolve(v, addr, flags, t)
		}
		if faultSignalPending(fault, t, r.User) {
			if !r.User {
				return doKernelFault(r)
			}
			return kernel.Restart
		}
		if fault&vmfault.Completed != 0 {
			return kernel.Restart
		}
		if fault&vmfault.Retry == 0 {
			m.MmapReadUnlock()
			return a.doneBefore610(t, r, fault)
		}
		if retries >= a.MaxRetries {
			return kernel.Livelock
		}
		faultpkg.TraceRetry(t.Tracer(), false, true)
		flags |= vmfault.FlagTried
	}
}

// doneBefore610 is the done: label before 6.10 (6.1.192).
func (a *ARM64) doneBefore610(t *kernel.Task, r *kernel.Regs, fault vmfault.Reason) kernel.TrapAction {
	if tr := t.Tracer(); tr.On() {
		tr.Decide("do_page_fault", "done: "+memory.DescribeReason(fault&^(arm64BadMap|arm64BadAccess))+arm64BadNote(fault))
	}
	if fault&(vmfault.Error|arm64BadMap|arm64BadAccess) == 0 {
		return kernel.Restart
	}
	if !r.User {
		return doKernelFault(r)
	}
	code := abi.SEGV_MAPERR
	if fault == arm64BadAccess {
		code = abi.SEGV_ACCERR
	}
	return a.userError(t, r, fault, code)
}

// arm64BadNote names the pre-6.10 private VM_FAULT_BADMAP and
// VM_FAULT_BADACCESS bits for the trace.
func arm64BadNote(fault vmfault.Reason) string {
	switch {
	case fault&arm64BadMap != 0:
		return " (VM_FAULT_BADMAP)"
	case fault&arm64BadAccess != 0:
		return " (VM_FAULT_BADACCESS)"
	}
	return ""
}
