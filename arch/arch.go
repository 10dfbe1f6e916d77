// Package arch is what every generic front end shares: the one reaction
// to the generic handler's verdict (deliver the signal it carries, apply
// the exception-table fixup or oops, restart), and the table of rules by
// which the generic handler deliberately does what some architecture's
// own fault.c does differently today.
//
// A front end (arch/x86, arch/arm64, arch/riscv, arch/s390, arch/powerpc)
// decodes its trap, does what its hardware dictates before the generic
// handler runs (x86 #GP on a non-canonical address, SMAP and SMEP; arm64
// top-byte-ignore and PAN; riscv SUM; s390 low-address and
// instruction-execution protection, and the TEID's page as the address;
// powerpc bad DSISR bits, KUAP and its segment interrupts), calls
// fault.Handler.Handle, sets the si_addr its hardware reports, and hands
// the Result to React. Nothing else about a verdict is written per
// architecture.
package arch

import (
	"github.com/faultline/faultline/fault"
	"github.com/faultline/faultline/kernel"
)

// React acts on the generic handler's result for the access in r, the
// common tail of every converted architecture's fault path: a user-mode
// failure queues the signal the verdict carries (force_sig_fault, with
// si_addr_lsb for poison and si_pkey for a protection key) and restarts
// so that it is delivered; a kernel-mode failure is fixed up or oopses.
// res.Addr is the si_addr: a front end whose hardware reports another
// address than the one the handler resolved sets it before calling React
// (arm64 reports FAR, tag included; its handlers see the tag cleared
// unless installed with SA_EXPOSE_TAGBITS, which arm64.SiAddr models).
// res is read, not kept: a pointer, so that the result the handler
// filled in is not copied again.
//
// A fault resolved with tracing off, nearly every fault, restarts here,
// in code the compiler inlines into the front end; the rest is react.
func React(t *kernel.Task, r *kernel.Regs, res *fault.Result) kernel.TrapAction {
	if res.Verdict == fault.Done && t.Tracer() == nil {
		return kernel.Restart
	}
	return react(t, r, res)
}

// react is React's every case, traced.
func react(t *kernel.Task, r *kernel.Regs, res *fault.Result) kernel.TrapAction {
	if tr := t.Tracer(); tr.On() {
		tr.Decide("verdict", res.Describe()) // the generic handler's answer
		tr.Decide("arch.React", reaction(res))
	}
	switch res.Verdict {
	case fault.Done, fault.Signal, fault.OOM:
		// Signal: the pending signal is delivered on the way back to
		// user mode. OOM: pagefault_out_of_memory ran; if the OOM killer
		// chose this task it has a fatal signal, else the access retries.
		return kernel.Restart
	case fault.Livelock:
		return kernel.Livelock
	case fault.BadArea, fault.AccessErr, fault.SigBus, fault.HWPoison:
		t.ForceSigFault(kernel.SigInfo{Signo: res.Signo, Code: res.Code, Addr: res.Addr, LSB: res.LSB, PKey: res.PKey})
		return kernel.Restart
	case fault.KernFixup:
		return FixupOrOops(r)
	}
	panic("arch: unknown verdict " + res.Verdict.String())
}

// FixupOrOops applies the exception-table entry of the kernel instruction
// that faulted, so that the uaccess routine reports failure, or crashes
// when it has none (x86 kernelmode_fixup_or_oops, arm64
// __do_kernel_fault, riscv no_context: the same two outcomes everywhere).
func FixupOrOops(r *kernel.Regs) kernel.TrapAction {
	if kernel.SearchExceptionTables(r.Insn) {
		return kernel.Fixup
	}
	return kernel.Oops
}

// reaction says, for the trace, what React does with res.
func reaction(res *fault.Result) string {
	switch res.Verdict {
	case fault.Done:
		return "Done: return to the instruction"
	case fault.Signal:
		return "Signal: return to user mode, where the pending signal is delivered and the instruction faults again"
	case fault.OOM:
		return "OOM: pagefault_out_of_memory, then the instruction faults again"
	case fault.Livelock:
		return "Livelock"
	case fault.KernFixup:
		return "KernFixup (cause " + res.Cause.String() + "): the exception table, else oops"
	}
	return res.Verdict.String() + ": force_sig_fault"
}
