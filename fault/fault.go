// Package fault is the generic page-fault handler: one entry point that
// takes a fault from an architecture front end and returns the final
// verdict, what to do, as the generic_page_fault() proposed on the kernel
// lists (Peter Xu, 1 Feb 2023) would.
//
// Handle takes the per-VMA lock or the mmap lock, finds the VMA, expands a
// growsdown stack, checks access with the architecture's rules, calls
// handle_mm_fault, retries after the lock was dropped (with
// FAULT_FLAG_TRIED, as often as needed), notices pending signals, and
// decodes the VM_FAULT_* bits once, here, into a Verdict. It always
// releases what it took, also when handle_mm_fault already released it.
// Front ends never see VM_FAULT_* bits: they act on the Result.
package fault

import (
	"fmt"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/trace"
	"github.com/faultline/faultline/vmfault"
)

// Verdict is what the architecture must do about a fault.
type Verdict int

// Verdicts. The zero value is Done.
const (
	// Done: the fault is resolved; return to the instruction.
	Done Verdict = iota
	// Signal: a signal is pending and the fault was abandoned; return so
	// that it is delivered (user mode only; kernel mode gets KernFixup).
	Signal
	// BadArea: no mapping (no VMA, stack expansion refused,
	// VM_FAULT_SIGSEGV such as a guard marker): SIGSEGV SEGV_MAPERR.
	BadArea
	// AccessErr: the mapping forbids the access: SIGSEGV SEGV_ACCERR, or
	// SEGV_PKUERR for a protection key.
	AccessErr
	// SigBus: VM_FAULT_SIGBUS: SIGBUS BUS_ADRERR.
	SigBus
	// HWPoison: a poisoned page: SIGBUS BUS_MCEERR_AR with the page shift
	// in si_addr_lsb.
	HWPoison
	// OOM: VM_FAULT_OOM in user mode: pagefault_out_of_memory, then retry.
	OOM
	// KernFixup: a kernel-mode fault failed; apply the exception-table
	// fixup, else oops. Result.Cause says why.
	KernFixup
	// Livelock: the fault kept retrying past the model's bound.
	Livelock
)

var verdictNames = [...]string{
	Done: "Done", Signal: "Signal", BadArea: "BadArea", AccessErr: "AccessErr",
	SigBus: "SigBus", HWPoison: "HWPoison", OOM: "OOM", KernFixup: "KernFixup",
	Livelock: "Livelock",
}

func (v Verdict) String() string {
	if v >= 0 && int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Request is one fault as a front end decoded it.
type Request struct {
	Addr   uint64
	Access mm.Access
	// User: the faulting instruction ran in user mode (FAULT_FLAG_USER).
	User bool
	// Prot: the hardware found a present entry that forbids the access
	// (x86 X86_PF_PROT). Architectures whose access rules do not need it
	// leave it false.
	Prot bool
	// PKey: the hardware reported a protection-key violation (X86_PF_PK).
	PKey bool
	// HasFixup: kernel mode; the faulting instruction has an
	// exception-table entry. A kernel fault without one does not sleep
	// for the mmap lock.
	HasFixup bool
	// NoFault: page faults are disabled or the context cannot sleep
	// (faulthandler_disabled): no lock is taken, the fault fails.
	NoFault bool
}

// AccessCheck is what an architecture's access rules read of a fault's
// Request: the access, and what the hardware reported of the entry. It
// has few enough fields to be passed in registers: a Request passed by
// value is copied through memory (a struct of more than four fields is
// not kept in registers), and one passed by pointer through the Arch
// interface escapes, which would move the fault's state to the heap on
// every fault.
type AccessCheck struct {
	Access mm.Access
	// Prot and PKey are the Request's.
	Prot, PKey bool
}

// Check returns what an access check reads of r.
func (r *Request) Check() AccessCheck {
	return AccessCheck{Access: r.Access, Prot: r.Prot, PKey: r.PKey}
}

// Result is the final outcome of a fault.
type Result struct {
	Verdict Verdict
	// Cause is, for KernFixup, the verdict a user-mode access would have
	// got (BadArea, AccessErr, SigBus, HWPoison, OOM or Signal).
	Cause Verdict
	// Signo and Code are the signal and si_code the verdict implies for a
	// user-mode access (also kept for KernFixup: one answer, where x86
	// passes three different ones to kernelmode_fixup_or_oops). Zero for
	// Done, Signal, OOM and Livelock.
	Signo abi.Signal
	Code  abi.Code
	Addr  uint64
	// LSB is si_addr_lsb for HWPoison: the page shift of the poisoned page.
	LSB uint8
	// PKey is the VMA's protection key for SEGV_PKUERR (si_pkey).
	PKey int
	// Major: the resolved fault needed I/O or was retried.
	Major bool
	// Retries counts the retries, by reason.
	Retries Retries
}

// Retries counts why a fault was retried.
type Retries struct {
	// VMALock: the per-VMA-lock attempt returned VM_FAULT_RETRY and the
	// fault went on under the mmap lock.
	VMALock int
	// Dropped: handle_mm_fault dropped the mmap lock and returned
	// VM_FAULT_RETRY (I/O, a userfaultfd wait).
	Dropped int
}

// Total returns every retry.
func (r Retries) Total() int { return r.VMALock + r.Dropped }

// Task is the faulting task, as the handler needs it.
type Task interface {
	memory.Faulter
	// FaultContext returns what a fault reads of the task, in one call:
	// a call through an interface is never inlined, and one per item
	// cost four on every fault. m is the task's address space (nil: no
	// user context); c its cache of its last VMA lookups (vmacache),
	// which the lockless lookup consults before the VMA index; f the
	// task as handle_mm_fault takes it, asked of the task, not converted
	// from this interface, because a conversion from one interface to
	// another looks the method table up at run time; tr its trace (nil:
	// off), as Tracer returns it.
	FaultContext() (m *mm.MM, c *mm.VMACache, f memory.Faulter, tr *trace.Track)
	// SignalPending is signal_pending(current).
	SignalPending() bool
	// FatalSignalPending is fatal_signal_pending(current).
	FatalSignalPending() bool
}

// Arch is the architecture's part of the generic path: its access rules,
// which differ and are ABI (Al Viro, 2023: pass what must intersect
// vm_flags).
type Arch interface {
	// AccessError reports whether vma forbids the access req describes
	// (the request's Check), and how: 0 when it is allowed, else
	// abi.SEGV_ACCERR or abi.SEGV_PKUERR (each arch's access_error and
	// bad_area_access_error).
	AccessError(vma *mm.VMA, req AccessCheck) abi.Code
}

// Resolver is handle_mm_fault: memory.HandleMMFault, or a test double.
// Postconditions as memory.HandleMMFault: with vmfault.Retry or
// vmfault.Completed in the result the fault lock has been released.
type Resolver func(vma *mm.VMA, addr uint64, flags vmfault.Flags, t memory.Faulter) vmfault.Reason

// Handler is the generic page-fault handler of one machine.
type Handler struct {
	Arch    Arch
	Resolve Resolver
	// MemoryFailure is CONFIG_MEMORY_FAILURE: with it, poison is reported
	// as BUS_MCEERR_AR with the page shift; without, as BUS_ADRERR.
	MemoryFailure bool
	// MaxRetries bounds the retries of one fault; past it the verdict is
	// Livelock. The kernel has no bound; the model needs one.
	MaxRetries int
}

// NewHandler returns a handler for arch on a kernel configured as cfg,
// resolving faults with memory.HandleMMFault.
func NewHandler(arch Arch, cfg *config.Kernel) *Handler {
	return &Handler{Arch: arch, Resolve: memory.HandleMMFault, MemoryFailure: cfg.MemoryFailure, MaxRetries: 10000}
}

// lockHeld is the lock a fault holds.
type lockHeld int

const (
	noLock   lockHeld = iota
	vmaLock           // the per-VMA read lock
	mmapLock          // the mmap lock, for reading
)

// faultState is one fault in progress: what it holds and has learnt.
type faultState struct {
	h *Handler
	// f is the faulting task, as handle_mm_fault takes it (Task's
	// FaultContext): what the fault asks of the task after it started,
	// its signals and its sleeps, it asks of f.
	f     memory.Faulter
	m     *mm.MM
	c     *mm.VMACache // the task's
	req   Request
	flags vmfault.Flags
	vma   *mm.VMA
	held  lockHeld
	tr    *trace.Track // the task's trace (nil: off)
}

// The helpers that end a fault fill in the caller's *Result, passed
// beside the faultState rather than kept in it: a Result returned through
// every helper would be copied at each return, and a pointer kept in the
// faultState would move the caller's Result to the heap (escape analysis
// sees every field of the state leak with the task it hands on).

// release drops whatever the fault holds.
func (fs *faultState) release() {
	switch fs.held {
	case vmaLock:
		fs.vma.EndRead()
	case mmapLock:
		fs.m.MmapReadUnlock()
	}
	fs.held = noLock
}

// resolve calls handle_mm_fault; when the result says the lock was
// released, the fault no longer holds it.
func (fs *faultState) resolve() vmfault.Reason {
	flags := fs.flags
	if fs.held == vmaLock {
		flags |= vmfault.FlagVMALock
	}
	ret := fs.h.Resolve(fs.vma, fs.req.Addr, flags, fs.f)
	if ret&(vmfault.Retry|vmfault.Completed) != 0 {
		fs.held = noLock
	}
	return ret
}

// signalPending is fault_signal_pending: after VM_FAULT_RETRY, a fatal
// signal ends any fault; any signal ends a user-mode fault. A kernel-mode
// fault with only a non-fatal signal pending retries.
func (fs *faultState) signalPending(ret vmfault.Reason) bool {
	if ret&vmfault.Retry == 0 {
		return false
	}
	pending := fs.f.FatalSignalPending() || fs.req.User && fs.f.SignalPending()
	TraceSignalCheck(fs.tr, pending, fs.req.User)
	return pending
}

// Handle resolves one fault and returns its final result. Whatever path
// it takes, it returns holding no lock.
func (h *Handler) Handle(t Task, req Request) Result {
	var res Result
	h.HandleTo(t, &req, &res)
	return res
}

// HandleTo is Handle with the request read from *req and the result
// written to *res, as the front ends call it: the request is copied
// once, into the fault's state, and the result is filled in place, never
// copied on the way out. Neither pointer is kept.
func (h *Handler) HandleTo(t Task, req *Request, res *Result) {
	*res = Result{Addr: req.Addr}
	// The state is filled in field by field, each on its own: a
	// composite literal of a variable whose address is taken, or a
	// value assigned beside a call, is built in a temporary and copied.
	var fs faultState
	fs.req = *req
	fs.h = h
	fs.m, fs.c, fs.f, fs.tr = t.FaultContext()
	fs.flags = vmfault.FlagDefault
	if req.User {
		fs.flags |= vmfault.FlagUser
	}
	switch req.Access {
	case mm.AccessWrite:
		fs.flags |= vmfault.FlagWrite
	case mm.AccessExec:
		fs.flags |= vmfault.FlagInstruction
	}
	if fs.m == nil || req.NoFault {
		// No user context, or faults disabled: never take a lock
		// (bad_area_nosemaphore).
		fs.tr.Step("faulthandler_disabled", "page faults disabled or no mm: no lock is taken")
		fs.fail(res, BadArea, abi.SEGV_MAPERR)
		return
	}
	if req.User && fs.underVMALock(res) {
		return
	}
	fs.underMmapLock(res)
}

// underVMALock tries the fault under the per-VMA lock alone (phase A of
// the architectures' handlers). It reports true when the result is
// final, false when the fault must go on under the mmap lock.
func (fs *faultState) underVMALock(res *Result) bool {
	v := fs.m.LockVMAUnderRCUCached(fs.c, fs.req.Addr)
	TraceVMALock(fs.tr, fs.m, v)
	if v == nil {
		return false
	}
	fs.vma, fs.held = v, vmaLock
	if code := fs.h.Arch.AccessError(v, fs.req.Check()); code != 0 {
		// Final, as on every arch since 6.10 ("mm: accelerate pagefault
		// when badaccess"): no second look under the mmap lock.
		fs.accessStep(code)
		fs.release()
		fs.accessErr(res, v, code)
		return true
	}
	fs.accessStep(0)
	// resolve and release, written out for the one lock this phase
	// holds: two calls fewer on every fault's path.
	ret := fs.h.Resolve(v, fs.req.Addr, fs.flags|vmfault.FlagVMALock, fs.f)
	if ret&(vmfault.Retry|vmfault.Completed) == 0 {
		v.EndRead()
	}
	fs.held = noLock
	if ret&(vmfault.Retry|vmfault.Error) == 0 && fs.tr == nil {
		fs.done(res, ret) // decode's answer, without its call
		return true
	}
	if ret&vmfault.Retry == 0 {
		fs.decode(res, ret)
		return true
	}
	res.Retries.VMALock++
	TraceRetry(fs.tr, true, ret&vmfault.Major != 0)
	if ret&vmfault.Major != 0 {
		// It waited for I/O: account the mmap-lock attempt as major.
		fs.flags |= vmfault.FlagTried
	}
	if fs.signalPending(ret) {
		fs.final(res, Signal)
		return true
	}
	return false
}

// accessStep traces the access check's answer.
func (fs *faultState) accessStep(code abi.Code) { TraceAccess(fs.tr, fs.req.Access, code) }

// underMmapLock runs the fault under the mmap lock, retrying as long as
// handle_mm_fault drops the lock (phase B, lock_mm_and_find_vma).
func (fs *faultState) underMmapLock(res *Result) {
	for {
		v := fs.m.LockAndFindVMA(fs.req.Addr, fs.f, fs.req.User, fs.req.HasFixup)
		if v == nil {
			fs.fail(res, BadArea, abi.SEGV_MAPERR) // no lock is held
			return
		}
		fs.vma, fs.held = v, mmapLock
		if code := fs.h.Arch.AccessError(v, fs.req.Check()); code != 0 {
			fs.accessStep(code)
			fs.release()
			fs.accessErr(res, v, code)
			return
		}
		fs.accessStep(0)
		ret := fs.resolve()
		if fs.signalPending(ret) {
			fs.final(res, Signal)
			return
		}
		if ret&vmfault.Completed != 0 {
			fs.decode(res, ret)
			return
		}
		if ret&vmfault.Retry == 0 {
			fs.release()
			fs.decode(res, ret)
			return
		}
		res.Retries.Dropped++
		if res.Retries.Total() > fs.h.MaxRetries {
			fs.final(res, Livelock)
			return
		}
		TraceRetry(fs.tr, false, true)
		fs.flags |= vmfault.FlagTried
	}
}

// final sets the verdict; in kernel mode every failure becomes KernFixup.
// Preconditions: no lock is held.
func (fs *faultState) final(res *Result, v Verdict) {
	res.Verdict = v
	if !fs.req.User && v != Done && v != Livelock {
		res.Cause, res.Verdict = v, KernFixup
	}
}

// fail ends the fault with a SIGSEGV verdict and its si_code.
func (fs *faultState) fail(res *Result, v Verdict, code abi.Code) {
	res.Signo, res.Code = abi.SIGSEGV, code
	fs.final(res, v)
}

// accessErr ends the fault with an access error on v. Only SEGV_PKUERR
// carries the VMA's key in si_pkey (force_sig_pkuerr): an ACCERR is a
// plain force_sig_fault, whatever v's key.
func (fs *faultState) accessErr(res *Result, v *mm.VMA, code abi.Code) {
	if code == abi.SEGV_PKUERR {
		res.PKey = v.PKey
	}
	fs.fail(res, AccessErr, code)
}

// decode turns handle_mm_fault's bits into the verdict: the one place
// VM_FAULT_* bits are read (underVMALock ends a resolved fault with done
// itself when tracing is off). Preconditions: no lock is held.
func (fs *faultState) decode(res *Result, ret vmfault.Reason) {
	if fs.tr != nil {
		fs.traceDecode(ret)
	}
	if ret&vmfault.Error == 0 {
		fs.done(res, ret)
		return
	}
	if !fs.req.User && fs.f.FatalSignalPending() {
		fs.final(res, Signal) // the task is dying: fix up, no signal
		return
	}
	switch {
	case ret&vmfault.OOM != 0:
		fs.final(res, OOM)
		return
	case ret&(vmfault.HWPoison|vmfault.HWPoisonLarge) != 0:
		// A small page wins if both bits are set, as in do_sigbus.
		shift := fs.m.PageShift() // PAGE_SHIFT
		if ret&vmfault.HWPoison == 0 {
			shift = memory.HStateShift(ret.HIndex(), fs.m.PageShift())
		}
		res.Signo = abi.SIGBUS
		if fs.h.MemoryFailure {
			res.Code, res.LSB = abi.BUS_MCEERR_AR, uint8(shift)
		} else {
			res.Code = abi.BUS_ADRERR // no CONFIG_MEMORY_FAILURE: plain SIGBUS
		}
		fs.final(res, HWPoison)
		return
	case ret&vmfault.SigBus != 0:
		res.Signo, res.Code = abi.SIGBUS, abi.BUS_ADRERR
		fs.final(res, SigBus)
		return
	case ret&vmfault.SigSegv != 0:
		fs.fail(res, BadArea, abi.SEGV_MAPERR)
		return
	}
	// VM_FAULT_FALLBACK leaking out of handle_mm_fault is a kernel bug (BUG()).
	panic(fmt.Sprintf("fault: handle_mm_fault returned %v", ret))
}

// done ends a resolved fault: major if it needed I/O or was retried.
// Done is final in either mode.
func (fs *faultState) done(res *Result, ret vmfault.Reason) {
	res.Major = ret&vmfault.Major != 0 || fs.flags&vmfault.FlagTried != 0
	res.Verdict = Done
}

// traceDecode traces the bits decode reads.
func (fs *faultState) traceDecode(ret vmfault.Reason) {
	fs.tr.Decide("decode", memory.DescribeReason(ret))
}

// NoVMA returns the result of a fault that never reaches a VMA: an
// address the architecture knows is outside user space, handled without
// any lock (bad_area_nosemaphore). Front ends use it for their early
// cases so that the signal table stays in one place.
func NoVMA(req Request) Result {
	res := Result{Addr: req.Addr}
	fs := faultState{req: req}
	fs.fail(&res, BadArea, abi.SEGV_MAPERR)
	return res
}

// NoVMATraced is NoVMA for task t, whose trace shows the verdict.
func NoVMATraced(t any, req Request) Result {
	res := Result{Addr: req.Addr}
	fs := faultState{req: req, tr: trace.Of(t)}
	fs.tr.Decide("bad_area_nosemaphore", "no VMA to look for: no lock is taken")
	fs.fail(&res, BadArea, abi.SEGV_MAPERR)
	return res
}

// AccessErrNoVMA returns the result of a fault whose hardware already
// says the mapping forbids it, before any VMA is looked up (s390's
// instruction-execution protection): AccessErr, SEGV_ACCERR, no lock
// taken. t's trace, if any, shows the verdict.
func AccessErrNoVMA(t any, req Request) Result {
	res := Result{Addr: req.Addr}
	fs := faultState{req: req, tr: trace.Of(t)}
	fs.tr.Decide("bad_area_nosemaphore", "the hardware reported an access the mapping forbids: no lock is taken")
	fs.fail(&res, AccessErr, abi.SEGV_ACCERR)
	return res
}
