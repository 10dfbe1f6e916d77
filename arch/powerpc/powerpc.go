// Package powerpc is the ppc64le front end: its MMU (Book3S-64 radix, as
// POWER9 runs it under a pseries kernel: a four-level tree whose geometry
// follows the base page, R/W/X permissions with real execute-only pages,
// KUAP and KUEP), its trap entry (the data storage interrupt with DAR and
// DSISR, the instruction storage interrupt with SRR1's fault bits, and
// the segment interrupts radix raises for an address its tree cannot
// translate), and the early cases of arch/powerpc/mm/fault.c that the
// hardware dictates: bad DSISR bits, and bad_kernel_fault (a kernel
// instruction fetch, a kernel fault on a kernel address, a kernel access
// to user memory that KUAP blocks).
//
// Where it differs from x86_64: exec-only memory is not readable (a load
// needs VM_READ, VM_WRITE or VM_EXEC, and not VM_EXEC alone), an address
// the radix tree does not translate is SIGSEGV SEGV_BNDERR
// (do_bad_segment_interrupt) rather than a #GP, an address between
// TASK_SIZE and the tree's 4 PiB is a plain SEGV_MAPERR, and there are no
// protection keys (powerpc supports them with the hash MMU only).
//
// The front end never reads VM_FAULT_* bits; arch.React acts on the
// Result.
package powerpc

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

// Interrupt vectors (TRAP(regs), INTERRUPT_*), kept in Regs.Trap.
const (
	TrapDataStorage = 0x300 // DSI: DAR is the address, DSISR says why
	TrapDataSegment = 0x380 // DSLB: on radix, an address outside the tree
	TrapInstStorage = 0x400 // ISI: SRR1 says why
	TrapInstSegment = 0x480 // ISLB
)

// DSISR bits (arch/powerpc/include/asm/reg.h, the same in 6.1.172 and
// later), as Translate records them in Regs.HW. For an instruction
// storage interrupt HW holds SRR1's bits that DSISR shares
// (DSISR_SRR1_MATCH_64S): do_page_fault reads both the same way.
const (
	DSISRBadDirectSt  uint64 = 0x80000000 // obsolete: direct store error
	DSISRNoHPTE       uint64 = 0x40000000 // no translation found
	DSISRAttrConflict uint64 = 0x20000000 // P9: process vs partition attributes
	DSISRNoExecOrG    uint64 = 0x10000000 // ISI only: no-execute or guarded
	DSISRProtFault    uint64 = 0x08000000 // protection fault
	DSISRBadAccess    uint64 = 0x04000000 // bad access to cache-inhibited or guarded memory
	DSISRIsStore      uint64 = 0x02000000 // the access was a store
	DSISRKeyFault     uint64 = 0x00200000 // storage key fault
	DSISRBadExtCtrl   uint64 = 0x00100000 // obsolete: external control error
	DSISRUnsuppMMU    uint64 = 0x00080000 // P9: unsupported MMU configuration
	DSISRPrtableFault uint64 = 0x00020000 // P9: fault on the process table
	DSISRICSWXNoCT    uint64 = 0x00004000 // P7: icswx unavailable coprocessor type
	DSISRBadCopyPaste uint64 = 0x00000008 // P9: copy/paste on the wrong memory type
	DSISRBadAMO       uint64 = 0x00000004 // P9: incorrect AMO opcode
	DSISRBadCILdSt    uint64 = 0x00000002 // P8: bad hypervisor cache-inhibited load/store
	DSISRBadFault64S         = DSISRBadDirectSt | DSISRBadAccess | DSISRBadExtCtrl | DSISRAttrConflict |
		DSISRUnsuppMMU | DSISRPrtableFault | DSISRICSWXNoCT | DSISRBadCopyPaste | DSISRBadAMO | DSISRBadCILdSt
)

// PageFaultIsBad is page_fault_is_bad for 64-bit Book3S: a DSISR bit that
// no page-table change can cure (the MMU has no NX_DSI feature here, so
// a bad copy/paste counts).
func PageFaultIsBad(dsisr uint64) bool { return dsisr&DSISRBadFault64S != 0 }

// PageFaultIsWrite is page_fault_is_write: DSISR_ISSTORE.
func PageFaultIsWrite(dsisr uint64) bool { return dsisr&DSISRIsStore != 0 }

// Geometry is the radix tree of one base page size: the index bits of
// each level (RADIX_*_INDEX_SIZE of asm/book3s/64/radix-4k.h and
// radix-64k.h, the same in 6.1.172 and later).
type Geometry struct {
	PageShift, PTE, PMD, PUD, PGD uint
}

// RadixGeometry returns the radix tree for a base page of 1<<pageShift
// bytes: 4 KiB (PTE 9, PMD 9, PUD 9, PGD 13) or 64 KiB (PTE 5, PMD 9,
// PUD 9, PGD 13); false for a page size radix does not have.
func RadixGeometry(pageShift uint) (Geometry, bool) {
	switch pageShift {
	case 12:
		return Geometry{PageShift: 12, PTE: 9, PMD: 9, PUD: 9, PGD: 13}, true
	case 16:
		return Geometry{PageShift: 16, PTE: 5, PMD: 9, PUD: 9, PGD: 13}, true
	}
	return Geometry{}, false
}

// VABits is the width of an address the tree translates: 52 with both
// page sizes (4 PiB).
func (g Geometry) VABits() uint { return g.PageShift + g.PTE + g.PMD + g.PUD + g.PGD }

// PMDShift is the size of what one PMD entry maps, the smaller hugetlb
// size: 2 MiB with both page sizes.
func (g Geometry) PMDShift() uint { return g.PageShift + g.PTE }

// PUDShift is the size of what one PUD entry maps, the larger hugetlb
// size: 1 GiB with both page sizes.
func (g Geometry) PUDShift() uint { return g.PMDShift() + g.PMD }

// TaskSize is TASK_SIZE_USER64 for a base page (asm/task_size_64.h, the
// same in 6.1.172 and later): 64 TiB with 4 KiB pages, 4 PiB (the whole
// tree) with 64 KiB pages.
func (g Geometry) TaskSize() uint64 {
	if g.PageShift == 16 {
		return 1 << 52 // TASK_SIZE_4PB
	}
	return 1 << 46 // TASK_SIZE_64TB
}

// MapWindow is DEFAULT_MAP_WINDOW_USER64: the top of the default mmap
// range, above which only a hint reaches (64 KiB pages: 128 TiB; 4 KiB
// pages: TASK_SIZE, so there is no range above it).
func (g Geometry) MapWindow() uint64 {
	if g.PageShift == 16 {
		return 1 << 47 // TASK_SIZE_128TB
	}
	return g.TaskSize()
}

// quadrant returns an effective address's top two bits: 0 is the
// process's own tree (user memory), 3 the kernel's.
func quadrant(addr uint64) uint64 { return addr >> 62 }

// Arch is the ppc64le architecture of one machine.
type Arch struct {
	arch.NoPKeys // radix has none (scan_pkey_feature, arch/powerpc/mm/book3s64/pkeys.c: "Pkey is not supported with Radix translation", 6.1.172 and later)
	cfg          config.Kernel
	handler      *fault.Handler
	geo          Geometry
	taskSize     uint64
}

// New returns the ppc64le architecture for a kernel configured as cfg,
// with the radix tree of its base page (page_size).
func New(cfg config.Kernel) *Arch {
	geo, ok := RadixGeometry(cfg.PageShift())
	if !ok {
		panic("powerpc: radix has no tree for this base page")
	}
	a := &Arch{cfg: cfg, geo: geo, taskSize: geo.TaskSize()}
	a.handler = fault.NewHandler(policy{}, &a.cfg)
	return a
}

// HugeWalkMissesEmpty implements memory's emptyHugeWalker: UFFDIO_COPY
// into hugetlb memory with an empty pool is ENOMEM on Debian's ppc64el
// 7.2 kernel, where the other arches' 6.13 and later say EEXIST.
func (a *Arch) HugeWalkMissesEmpty() bool { return true }

// Handler returns the generic handler the front end calls.
func (a *Arch) Handler() *fault.Handler { return a.handler }

// Geometry returns the radix tree the machine translates with.
func (a *Arch) Geometry() Geometry { return a.geo }

// Name implements kernel.Arch.
func (a *Arch) Name() string { return "ppc64le" }

// RetByte implements kernel.Arch: blr is 0x4e800020, whose first byte in
// memory (little-endian) is 0x20.
func (a *Arch) RetByte() byte { return 0x20 }

// TaskSize implements mm.Arch (TASK_SIZE of a 64-bit task).
func (a *Arch) TaskSize() uint64 { return a.taskSize }

// MmapBase implements mm.Arch: the default map window, less a stack
// gap. Hints above the window (64 KiB pages only) are not modeled.
func (a *Arch) MmapBase() uint64 { return a.geo.MapWindow() - 256<<20 }

// PageProt implements mm.Arch (vm_get_page_prot of book3s64 with radix,
// arch/powerpc/mm/book3s64/pgtable.c, 6.1.172 and later): write implies
// read, private writable memory starts read-only, and VM_EXEC alone is
// PAGE_EXECONLY, which radix can express (protection_map itself maps X
// to RX, which hash uses).
func (a *Arch) PageProt(flags mm.VMFlags, _ int) pgtable.PTE {
	return arch.ReadImpliedProt(flags)
}

// AccessOK implements kernel.Arch (__access_ok of asm/uaccess.h): the
// address lies below TASK_SIZE_MAX and the size fits above it.
func (a *Arch) AccessOK(addr, size uint64) bool {
	return addr < a.taskSize && size <= a.taskSize-addr
}

// CopyUser implements kernel.Arch: __copy_tofrom_user
// (arch/powerpc/lib/copyuser_64.S, and copyuser_power7.S, which POWER9
// runs and which starts over with the first on any fault; 6.1.172). Its
// fixups copy on byte by byte after a faulting load until the fault comes
// again, and after a faulting store until the destination is 8-byte
// aligned: since a store of 8 aligned bytes cannot cross a page, both
// reach the faulting byte exactly.
func (a *Arch) CopyUser(c kernel.UserCopy) (copied, stored uint64) { return c.CopyExact() }

// Addressable reports whether the radix tree can translate addr: its
// quadrant's offset fits the tree (52 bits). An address that does not is
// a segment interrupt. Quadrants 1 and 2 are for the hypervisor's access
// to a guest; a guest kernel and its programs get a segment interrupt
// there too (the model's reading of the ISA: the model has no hypervisor).
func (a *Arch) Addressable(addr uint64) bool {
	switch quadrant(addr) {
	case 0, 3:
		return addr&(1<<62-1) < 1<<a.geo.VABits()
	}
	return false
}

// Translate implements kernel.Arch: the MMU. A miss records the interrupt
// in r: Trap the vector, HW the DSISR (or SRR1's matching bits for a
// fetch); the DAR is r.Addr.
func (a *Arch) Translate(t *kernel.Task, r *kernel.Regs) *phys.Page {
	exec := r.Access == mm.AccessExec
	r.Trap, r.HW = TrapDataStorage, 0
	if exec {
		r.Trap = TrapInstStorage
	}
	miss := func(bits uint64) *phys.Page {
		if r.Access == mm.AccessWrite {
			bits |= DSISRIsStore
		}
		r.HW = bits
		return nil
	}
	if !a.Addressable(r.Addr) {
		r.Trap = TrapDataSegment
		if exec {
			r.Trap = TrapInstSegment
		}
		return nil
	}
	m := t.MM()
	if m == nil || quadrant(r.Addr) != 0 || r.Addr >= a.taskSize {
		// The kernel's quadrant maps nothing the model has; above
		// TASK_SIZE the process's tree is empty.
		return miss(DSISRNoHPTE)
	}
	table, i := m.PT.Lookup(r.Addr)
	if table == nil {
		return miss(DSISRNoHPTE)
	}
	pte := table.Load(i)
	if !pte.Present() {
		if pte.Mapped() {
			return miss(DSISRProtFault) // PROT_NONE: valid, no access
		}
		return miss(DSISRNoHPTE)
	}
	if !r.User && (exec || !r.UAccess) {
		// KUEP (a privileged fetch from a user page) or KUAP (the AMR
		// blocks user memory outside a uaccess routine).
		return miss(DSISRProtFault)
	}
	var ok bool
	switch r.Access {
	case mm.AccessRead:
		ok = pte.Has(pgtable.Read) // PAGE_EXECONLY is not readable
	case mm.AccessWrite:
		ok = pte.Has(pgtable.Write)
	case mm.AccessExec:
		if !pte.Has(pgtable.Exec) {
			// SRR1's no-execute bit (the ISA's reading for radix: the
			// page's execute permission is not granted).
			return miss(DSISRNoExecOrG)
		}
		ok = true
	}
	if !ok {
		return miss(DSISRProtFault)
	}
	return m.Phys().Lookup(table.Access(i, pte, r.Addr, r.Access == mm.AccessWrite))
}

// Trap implements kernel.Arch: the segment interrupts, do_page_fault's
// early cases, then the generic handler.
func (a *Arch) Trap(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	if r.Trap == TrapDataSegment || r.Trap == TrapInstSegment {
		return BadSegment(t, r)
	}
	if act, done := a.Early(t, r); done {
		return act
	}
	req := fault.Request{
		Addr: r.Addr, Access: r.Access, User: r.User,
		HasFixup: kernel.SearchExceptionTables(r.Insn),
		NoFault:  r.NoFault,
	}
	var res fault.Result
	a.handler.HandleTo(t, &req, &res)
	return arch.React(t, r, &res)
}

// BadSegment is do_bad_segment_interrupt (fault.c, 6.1.172 and later): on
// radix a segment interrupt means the address is outside the tree's
// geometry (exceptions-64s.S data_access_slb_common, 6.1.172: "Radix case,
// access is outside page table range", -EFAULT without do_slb_fault). A user access gets SIGSEGV SEGV_BNDERR at the address; a
// kernel access goes to bad_page_fault with SIGSEGV: the fixup, else an
// oops. Hardware and not a page fault: the generic front end and the
// native handler share it.
func BadSegment(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	t.Tracer().Step("do_bad_segment_interrupt", "the address is outside the radix tree's geometry")
	if r.User {
		t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGSEGV, Code: abi.SEGV_BNDERR, Addr: r.Addr})
		return kernel.Restart
	}
	return BadPageFault(t, r, abi.SIGSEGV)
}

// BadPageFault is bad_page_fault: the exception-table fixup of the
// faulting instruction, else die() with sig, which only the oops message
// shows. After an instruction fetch the instruction pointer is the
// address fetched, which no exception-table entry names: it dies.
func BadPageFault(t *kernel.Task, r *kernel.Regs, sig abi.Signal) kernel.TrapAction {
	if tr := t.Tracer(); tr.On() {
		tr.Decide("bad_page_fault", sig.String()+": the exception table, else die")
	}
	if r.Trap == TrapInstStorage || r.Trap == TrapInstSegment {
		return kernel.Oops
	}
	return arch.FixupOrOops(r)
}

// Early is what ___do_page_fault does before it looks for a VMA and that
// the hardware dictates (fault.c at 6.1.172 and at 6.13 and later, the
// same): bad DSISR bits end a user fault with SIGBUS BUS_OBJERR and a
// kernel one in bad_page_fault; bad_kernel_fault ends a kernel fault that
// is an instruction fetch, on a kernel address, or blocked by KUAP. It
// reports false when the fault goes on to the VMA.
func (a *Arch) Early(t *kernel.Task, r *kernel.Regs) (kernel.TrapAction, bool) {
	tr := t.Tracer()
	if PageFaultIsBad(r.HW) {
		tr.Step("page_fault_is_bad", "a DSISR bit no page-table change can cure")
		if r.User {
			t.ForceSigFault(kernel.SigInfo{Signo: abi.SIGBUS, Code: abi.BUS_OBJERR, Addr: r.Addr})
			return kernel.Restart, true
		}
		return BadPageFault(t, r, abi.SIGBUS), true
	}
	if r.User {
		return 0, false
	}
	if act, bad := a.BadKernelFault(t, r); bad {
		return act, true
	}
	return 0, false
}

// BadKernelFault is bad_kernel_fault followed by bad_page_fault(SIGSEGV):
// a kernel instruction fetch is always bad (its instruction pointer is
// the address fetched, which no exception-table entry names: it dies); so
// is a kernel fault on an address at or above TASK_SIZE; and a kernel
// access to user memory that KUAP blocked (outside a uaccess routine, the
// AMR closed) is bad: without an exception-table entry it dies, with one
// the kernel WARNs ("Bug: Read fault blocked by KUAP!") and fixes it up.
func (a *Arch) BadKernelFault(t *kernel.Task, r *kernel.Regs) (kernel.TrapAction, bool) {
	tr := t.Tracer()
	switch {
	case r.Trap == TrapInstStorage:
		tr.Step("bad_kernel_fault", "the kernel tried to execute a user page")
		return BadPageFault(t, r, abi.SIGSEGV), true
	case r.Addr >= a.taskSize:
		tr.Step("bad_kernel_fault", "a kernel fault on a kernel address")
		return BadPageFault(t, r, abi.SIGSEGV), true
	case !r.UAccess: // bad_kuap_fault reads the AMR, not the DSISR
		if !kernel.SearchExceptionTables(r.Insn) {
			tr.Step("bad_kernel_fault", "KUAP blocked an access to user memory outside a uaccess routine: die")
			return kernel.Oops, true
		}
		tr.Step("bad_kernel_fault", "WARN: Bug: fault blocked by KUAP! (the instruction has an exception-table entry)")
		return BadPageFault(t, r, abi.SIGSEGV), true
	}
	return 0, false
}

// AccessError is access_error (fault.c, 6.1.172 and later, radix, a CPU
// with CPU_FTR_NOEXECUTE): a fetch needs VM_EXEC; a store VM_WRITE; a
// load any access flag, but VM_EXEC alone is execute-only on radix and
// refused. The generic front end's rule and the native handler's are
// this one function.
func AccessError(v *mm.VMA, acc mm.Access) bool {
	switch acc {
	case mm.AccessExec:
		return v.Flags&mm.VMExec == 0
	case mm.AccessWrite:
		return v.Flags&mm.VMWrite == 0
	}
	f := v.Flags & mm.VMAccessFlags
	return f == 0 || f == mm.VMExec
}

// policy is the ppc64le part of the generic handler.
type policy struct{}

// AccessError implements fault.Arch (access_error; no pkeys on radix).
func (policy) AccessError(v *mm.VMA, req fault.AccessCheck) abi.Code {
	if AccessError(v, req.Access) {
		return abi.SEGV_ACCERR
	}
	return 0
}
