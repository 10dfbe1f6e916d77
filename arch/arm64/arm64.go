// Package arm64 is the arm64 front end: its MMU (4 levels of 4 KiB pages,
// a 48-bit VA, TTBR0 for user addresses and TTBR1 for addresses with bit
// 55 set, top-byte-ignore on TTBR0, PAN, the arm64 protection_map with and
// without Enhanced PAN), its trap entry (a data or instruction abort with
// its ESR: exception class, WnR, CM and the fault status code), the
// dispatch of do_mem_abort by fault status, and the early cases only arm64
// has (arch/arm64/mm/fault.c): translation faults above the user range go
// to do_bad_area without any lock; a kernel permission fault on a user
// address outside a uaccess routine, or a kernel instruction fetch from
// user memory, dies.
//
// Where it differs from x86_64: a tagged user pointer reaches its page
// (top-byte-ignore), an address above 48 bits is a plain SEGV_MAPERR at
// that address (no #GP), write-only memory is readable and, without EPAN,
// so is exec-only memory. si_addr is FAR, which keeps a pointer's tag; the
// signal delivery hides it again from a handler installed without
// SA_EXPOSE_TAGBITS, which is how scenarios catch signals.
//
// The front end never reads VM_FAULT_* bits; arch.React acts on the
// Result.
package arm64

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/fault"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
)

// Exception classes of the aborts (ESR_ELx_EC_*), kept in Regs.Trap.
const (
	ECIAbtLow = 0x20 // instruction abort from EL0
	ECIAbtCur = 0x21 // instruction abort from EL1
	ECDAbtLow = 0x24 // data abort from EL0
	ECDAbtCur = 0x25 // data abort from EL1
)

// ESR bits and fields (ESR_ELx_*), as Translate records them in Regs.HW.
const (
	ESRECShift        = 26
	ESRIL      uint64 = 1 << 25 // a 32-bit instruction
	ESRCM      uint64 = 1 << 8  // a cache maintenance instruction
	ESRWnR     uint64 = 1 << 6  // write, not read
	ESRFSC     uint64 = 0x3f    // the fault status code (DFSC, IFSC)

	// Fault status codes; the low two bits are the level (0-3).
	FSCTrans  uint64 = 0x04 // translation fault
	FSCAccess uint64 = 0x08 // access flag fault
	FSCPerm   uint64 = 0x0c // permission fault
	fscType   uint64 = 0x3c
)

// VABits is the virtual-address width (CONFIG_ARM64_VA_BITS_48), at
// every base page size the model has: 4 KiB pages in 4 levels of 9 bits,
// 16 KiB in 4 levels of 11 bits under a 2-entry top, 64 KiB in 3 levels
// of 13 bits under a 64-entry top (Geometry).
const VABits = 48

// tagMask is the top byte of an address, which the MMU ignores on TTBR0.
const tagMask uint64 = 0xff << 56

// EC returns an ESR's exception class.
func EC(esr uint64) int { return int(esr >> ESRECShift & 0x3f) }

// FSCType returns an ESR's fault status without its level: FSCTrans,
// FSCAccess or FSCPerm for the faults this MMU raises.
func FSCType(esr uint64) uint64 { return esr & fscType }

// FSCLevel returns the translation level an ESR's fault status names.
func FSCLevel(esr uint64) int { return int(esr & 3) }

// UntaggedAddr is untagged_addr: the top byte cleared from a TTBR0
// address (bit 55 clear), an address with bit 55 set left alone.
func UntaggedAddr(addr uint64) uint64 { return addr & uint64(int64(addr<<8)>>8) }

// IsTTBR0Addr is is_ttbr0_addr: an (untagged) address below TASK_SIZE.
func IsTTBR0Addr(addr uint64) bool { return addr < TaskSize }

// TaskSize is TASK_SIZE with a 48-bit VA.
const TaskSize uint64 = 1 << VABits

// Arch is the arm64 architecture of one machine.
type Arch struct {
	arch.NoPKeys // the model has no POE, arm64's protection keys
	cfg          config.Kernel
	handler      *fault.Handler
}

// New returns the arm64 architecture for a kernel configured as cfg
// (config key epan: whether the CPU has Enhanced PAN).
func New(cfg config.Kernel) *Arch {
	a := &Arch{cfg: cfg}
	a.handler = fault.NewHandler(Policy{EPAN: cfg.EPAN}, &a.cfg)
	return a
}

// Geometry implements mm.Geometer: the translation tables of a 48-bit VA
// over 1<<pageShift byte pages (arch/arm64/include/asm/pgtable-hwdef.h:
// ARM64_HW_PGTABLE_LEVELS(va) = (va - 4) / (PAGE_SHIFT - 3), so 4, 4 and
// 3 levels; PTRS_PER_PGD = 1 << (VA_BITS - PGDIR_SHIFT), so 512, 2 and
// 64 entries). The configured depth (pgtable_levels) is x86_64's and
// riscv64's: arm64 ignores it.
func (a *Arch) Geometry(pageShift uint, _ int) pgtable.Geometry {
	return pgtable.ForVA(pageShift, VABits, int((VABits-4)/(pageShift-3)))
}

// Handler returns the generic handler the front end calls.
func (a *Arch) Handler() *fault.Handler { return a.handler }

// Config returns the kernel configuration the machine was built with.
func (a *Arch) Config() config.Kernel { return a.cfg }

// Name implements kernel.Arch.
func (a *Arch) Name() string { return "arm64" }

// RetByte implements kernel.Arch: ret is d65f03c0, whose first byte in
// memory (little-endian) is 0xc0.
func (a *Arch) RetByte() byte { return 0xc0 }

// TaskSize implements mm.Arch: 1<<48 (TASK_SIZE_64 with a 48-bit VA).
func (a *Arch) TaskSize() uint64 { return TaskSize }

// MmapBase implements mm.Arch: the default map window ends at TASK_SIZE
// (DEFAULT_MAP_WINDOW_64 with a 48-bit VA), less a stack gap.
func (a *Arch) MmapBase() uint64 { return TaskSize - 256<<20 }

// PageProt implements mm.Arch (the arm64 protection_map,
// arch/arm64/mm/mmap.c at 6.12): write implies read; private writable
// memory starts read-only; exec-only is PAGE_READONLY_EXEC, readable,
// unless the CPU has EPAN, which makes it PAGE_EXECONLY.
func (a *Arch) PageProt(flags mm.VMFlags, _ int) pgtable.PTE {
	if flags&mm.VMAccessFlags == 0 {
		return 0 // PAGE_NONE
	}
	p := pgtable.User
	if flags&(mm.VMRead|mm.VMWrite) != 0 || !a.cfg.EPAN {
		p |= pgtable.Read
	}
	if flags&mm.VMWrite != 0 && flags&mm.VMShared != 0 {
		p |= pgtable.Write
	}
	if flags&mm.VMExec != 0 {
		p |= pgtable.Exec
	}
	return p
}

// AccessOK implements kernel.Arch (access_ok, arch/arm64/include/asm/
// uaccess.h at 6.12): the range lies below TASK_SIZE_MAX. The tag of a
// tagged pointer is removed first only for a task that enabled the
// tagged-address ABI (prctl PR_SET_TAGGED_ADDR_CTRL, TIF_TAGGED_ADDR),
// which no scenario does: a system call given a tagged pointer fails with
// EFAULT.
func (a *Arch) AccessOK(addr, size uint64) bool {
	return size <= TaskSize && addr <= TaskSize-size
}

// esrBase returns the ESR of an abort of r's access before its fault
// status: the exception class by mode and access, WnR for a store.
func esrBase(r *kernel.Regs) (int, uint64) {
	var ec int
	switch {
	case r.Access == mm.AccessExec && r.User:
		ec = ECIAbtLow
	case r.Access == mm.AccessExec:
		ec = ECIAbtCur
	case r.User:
		ec = ECDAbtLow
	default:
		ec = ECDAbtCur
	}
	esr := uint64(ec)<<ESRECShift | ESRIL
	if r.Access == mm.AccessWrite {
		esr |= ESRWnR
	}
	return ec, esr
}

// level returns the translation level a table of the walk is at: level 3
// holds the PTEs, level 0 is the root of a 4-level walk.
func level(t *pgtable.Table) uint64 { return uint64(max(0, 4-t.Level())) }

// Translate implements kernel.Arch: the MMU. A miss records the abort in
// r: Trap the exception class, HW the ESR; FAR is r.Addr, the address as
// the instruction used it, tag included.
func (a *Arch) Translate(t *kernel.Task, r *kernel.Regs) *phys.Page {
	ec, esr := esrBase(r)
	r.Trap = ec
	miss := func(fsc uint64) *phys.Page {
		r.HW = esr | fsc
		return nil
	}
	if r.Addr>>55&1 != 0 {
		// TTBR1: kernel memory, which the model does not map at all (and
		// which would be a permission fault from EL0).
		return miss(FSCTrans)
	}
	// Top-byte-ignore (TCR_EL1.TBI0; TBID0 clear, so for instruction
	// addresses too: a branch drops the tag from the PC).
	va := r.Addr &^ tagMask
	if va >= TaskSize {
		return miss(FSCTrans) // outside the range TTBR0 translates: level 0
	}
	m := t.MM()
	if m == nil {
		return miss(FSCTrans)
	}
	table, i, leaf := m.PT.Walk(va)
	if !leaf {
		return miss(FSCTrans | level(table))
	}
	pte := table.Load(i)
	if !pte.Present() {
		return miss(FSCTrans | level(table))
	}
	// The access flag and the dirty state are managed by the hardware
	// (FEAT_HAFDBS): a valid entry never raises an access flag fault.
	userPage := pte.Has(pgtable.User)
	var ok bool
	switch {
	case r.Access == mm.AccessExec && !r.User:
		ok = !userPage // user pages are PXN
	case !r.User && !r.UAccess:
		ok = !userPage // PAN: no privileged access to EL0-accessible pages
	default:
		// EL0, or a uaccess routine's unprivileged load or store
		// (LDTR/STTR), checked as EL0.
		switch r.Access {
		case mm.AccessRead:
			ok = userPage && pte.Has(pgtable.Read)
		case mm.AccessWrite:
			ok = userPage && pte.Has(pgtable.Write)
		case mm.AccessExec:
			ok = userPage && pte.Has(pgtable.Exec)
		}
	}
	if !ok {
		return miss(FSCPerm | level(table))
	}
	return m.Phys().Lookup(table.Access(i, pte, va, r.Access == mm.AccessWrite))
}

// IsEL1PermissionFault is is_el1_permission_fault (fault.c at 6.12) with
// hardware PAN (no TTBR0 PAN emulation): an EL1 abort whose fault status is a permission
// fault.
func IsEL1PermissionFault(esr uint64) bool {
	ec := EC(esr)
	return (ec == ECDAbtCur || ec == ECIAbtCur) && FSCType(esr) == FSCPerm
}

// IsWriteAbort is is_write_abort: WnR without CM.
func IsWriteAbort(esr uint64) bool { return esr&ESRWnR != 0 && esr&ESRCM == 0 }

// AbortAccess returns the access do_page_fault sees in an ESR: an
// instruction fetch only for an EL0 instruction abort, a write for a
// write abort, else a read.
func AbortAccess(esr uint64) mm.Access {
	switch {
	case EC(esr) == ECIAbtLow:
		return mm.AccessExec
	case IsWriteAbort(esr):
		return mm.AccessWrite
	}
	return mm.AccessRead
}

// SiAddr returns the si_addr the task's handler sees for a fault at FAR
// far: the kernel queues far, tag and all (arm64_force_sig_fault), and
// get_signal hides the tag from a handler installed without
// SA_EXPOSE_TAGBITS (hide_si_addr_tag_bits, arch_untagged_si_addr; 6.12
// kernel/signal.c and arch/arm64/include/asm/signal.h). Scenario handlers
// never set it.
func SiAddr(far uint64) uint64 { return UntaggedAddr(far) }

// Trap implements kernel.Arch (do_mem_abort): the fault status chooses
// the handler, as arm64's fault_info table does (fault.c at 6.12).
func (a *Arch) Trap(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	switch FSCType(r.HW) {
	case FSCTrans:
		// do_translation_fault: only a TTBR0 address has a VMA to look for.
		if !IsTTBR0Addr(UntaggedAddr(r.Addr)) {
			t.Tracer().Step("do_translation_fault", "not a TTBR0 address: do_bad_area")
			return a.badArea(t, r)
		}
		return a.pageFault(t, r)
	case FSCAccess, FSCPerm:
		return a.pageFault(t, r)
	}
	panic("arm64: an abort this MMU does not raise")
}

// request fills in *req, the generic handler's view of the abort in r,
// field by field: a Request returned by value into a variable whose
// address is taken is built in a temporary and copied.
func (a *Arch) request(r *kernel.Regs, req *fault.Request) {
	req.Addr, req.Access, req.User = UntaggedAddr(r.Addr), AbortAccess(r.HW), r.User
	req.HasFixup = kernel.SearchExceptionTables(r.Insn)
	req.NoFault = r.NoFault
}

// badArea handles a fault with no VMA to look for (do_bad_area).
func (a *Arch) badArea(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	var req fault.Request
	a.request(r, &req)
	res := fault.NoVMATraced(t, req)
	res.Addr = SiAddr(r.Addr)
	return react(t, r, &res)
}

// react hands the result to arch.React, with what the hardware dictates
// first: a failed kernel instruction fetch cannot be fixed up (there is
// no instruction to resume after), so it dies (__do_kernel_fault).
func react(t *kernel.Task, r *kernel.Regs, res *fault.Result) kernel.TrapAction {
	if res.Verdict == fault.KernFixup && EC(r.HW) == ECIAbtCur {
		t.Tracer().Step("__do_kernel_fault", "a kernel instruction abort cannot be fixed up: oops")
		return kernel.Oops
	}
	return arch.React(t, r, res)
}

// pageFault handles a fault on a user address (do_page_fault): the PAN
// cases first, then the generic handler.
func (a *Arch) pageFault(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	if act, done := EL1UserPermission(r); done {
		t.Tracer().Step("do_page_fault", "a kernel permission fault on a user address (PAN): "+act.String())
		return act
	}
	var req fault.Request
	a.request(r, &req)
	var res fault.Result
	a.handler.HandleTo(t, &req, &res)
	res.Addr = SiAddr(r.Addr)
	return react(t, r, &res)
}

// EL1UserPermission is do_page_fault's check of a kernel permission
// fault on a user address: an instruction fetch from user memory dies, so
// does an access outside a uaccess routine (an instruction without an
// exception-table entry). It reports false when the fault goes on.
func EL1UserPermission(r *kernel.Regs) (kernel.TrapAction, bool) {
	if !IsTTBR0Addr(UntaggedAddr(r.Addr)) || !IsEL1PermissionFault(r.HW) {
		return 0, false
	}
	if EC(r.HW) == ECIAbtCur {
		return kernel.Oops, true // "execution of user memory"
	}
	if !kernel.SearchExceptionTables(r.Insn) {
		return kernel.Oops, true // "access to user memory outside uaccess routines"
	}
	return 0, false
}

// Policy is the arm64 part of the generic handler: do_page_fault's
// vm_flags, which the native handler shares.
type Policy struct{ EPAN bool }

// VMFlags returns the VMA flags of which a fault of access acc needs one
// (do_page_fault's vm_flags, fault.c at 6.12 and 6.1.192):
// a fetch VM_EXEC, a store VM_WRITE, a load VM_READ or VM_WRITE, and also
// VM_EXEC without EPAN ("exec implies read").
func (p Policy) VMFlags(acc mm.Access) mm.VMFlags {
	switch acc {
	case mm.AccessExec:
		return mm.VMExec
	case mm.AccessWrite:
		return mm.VMWrite
	}
	if p.EPAN {
		return mm.VMRead | mm.VMWrite
	}
	return mm.VMRead | mm.VMWrite | mm.VMExec
}

// AccessError implements fault.Arch: the VMA must have one of VMFlags.
func (p Policy) AccessError(v *mm.VMA, req fault.AccessCheck) abi.Code {
	if v.Flags&p.VMFlags(req.Access) == 0 {
		return abi.SEGV_ACCERR
	}
	return 0
}
