// Package native models today's architecture fault handlers as Linux has
// them — arch/x86/mm/fault.c, arch/arm64/mm/fault.c, arch/riscv/mm/fault.c,
// arch/s390/mm/fault.c, arch/powerpc/mm/fault.c at 6.18 by default and at
// older versions on request (config key
// `kernel`) — beside the generic handler of package fault, so that running
// both on the same scenarios shows what converting an architecture
// changes.
//
// Each handler reads the VM_FAULT_* bits itself, in its arch's order, with
// its arch's si_code choices, as the C does: this package and package
// fault are the only readers of those bits. Everything else is shared with
// the generic front ends: the arch's MMU and trap decode (a native machine
// embeds the arch's front end and replaces only its Trap), and everything
// below the fault path (mm, handle_mm_fault, the task layer). Where a
// native handler departs from what the generic handler does, it notes the
// rule of package arch's table (kernel.Kernel.NoteRule), so that every
// difference is named.
package native

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch"
	"github.com/faultline/faultline/fault"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/vmfault"
)

// Resolver is handle_mm_fault as the native handlers call it:
// memory.HandleMMFault, or a test double (the property test drives both
// handlers with the same scripted results).
type Resolver func(vma *mm.VMA, addr uint64, flags vmfault.Flags, t memory.Faulter) vmfault.Reason

// faultSignalPending is fault_signal_pending, the same helper on every
// arch: after VM_FAULT_RETRY, a fatal signal ends any fault, any signal a
// user-mode one.
func faultSignalPending(ret vmfault.Reason, t *kernel.Task, user bool) bool {
	if ret&vmfault.Retry == 0 {
		return false
	}
	pending := t.FatalSignalPending() || user && t.SignalPending()
	if tr := t.Tracer(); tr.On() {
		fault.TraceSignalCheck(tr, pending, user)
		if pending && user {
			tr.Decide("fault_signal_pending", "return to user mode, where the signal is delivered (the generic Signal verdict)")
		}
	}
	return pending
}

// traceAccess traces an access check of the native handler: denied or
// allowed, with the si_code a denial gets.
func traceAccess(t *kernel.Task, acc mm.Access, denied bool) {
	if t.Tracer() != nil { // inlined: tracing off costs a nil check
		traceAccessOn(t, acc, denied)
	}
}

func traceAccessOn(t *kernel.Task, acc mm.Access, denied bool) {
	code := abi.Code(0)
	if denied {
		code = abi.SEGV_ACCERR
	}
	fault.TraceAccess(t.Tracer(), acc, code)
}

// Resolution is what every native handler keeps beside its front end:
// how it calls handle_mm_fault and how far it retries. Its fields are
// promoted, so that a test sets a.Resolve and a.MaxRetries directly.
type Resolution struct {
	// Resolve is handle_mm_fault: memory.HandleMMFault, or a test double
	// honouring its postconditions.
	Resolve Resolver
	// MaxRetries bounds the VM_FAULT_RETRY retries of one fault, past
	// which the access is a livelock. The kernel has no bound; the model
	// needs one.
	MaxRetries int
}

// defaultResolution is a native handler's handle_mm_fault and its
// retry bound, as New* give them.
func defaultResolution() Resolution {
	return Resolution{Resolve: memory.HandleMMFault, MaxRetries: 10000}
}

// note records that the handler took the path where its arch departs
// from the generic handler by rule id.
func note(t *kernel.Task, id arch.RuleID) { t.Kernel().NoteRule(id.Bit()) }
