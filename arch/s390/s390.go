// Package s390 is the s390x front end: its MMU (dynamic address
// translation through the region-first, -second and -third, segment and
// page tables, with DAT protection for stores, instruction-execution
// protection, low-address protection), its program checks (translation
// exceptions and the protection exception, each with its
// translation-exception identification, the TEID) and the early cases
// only s390 has (arch/s390/mm/fault.c, do_dat_exception and
// do_protection_exception).
//
// Where it differs from the others: the fault address comes from the
// TEID, which holds only the page (si_addr is page-aligned, for every
// signal, whatever the handler); the hardware does not tell an
// instruction fetch from a load, so FAULT_FLAG_INSTRUCTION is never set
// and a fetch or a load needs any of VM_READ, VM_WRITE or VM_EXEC;
// a fetch from a present page without execute permission is an
// instruction-execution-protection exception, SEGV_ACCERR before any VMA
// is looked up. User space runs in the primary space with the user ASCE;
// the kernel runs with its own ASCE and reaches user memory only through
// the MVCOS of the uaccess routines, whose user operand is in the
// secondary space (the user ASCE): any other kernel access to a user
// address translates through the kernel's tables, which map nothing the
// model knows, and is a kernel fault (fixup or die) without the mmap
// lock. Low-address protection (stores to 0-511 and 4096-4607) applies
// to the kernel ASCE only: user ASCEs are private spaces, to which it
// does not apply.
//
// The front end never reads VM_FAULT_* bits; arch.React acts on the
// Result.
package s390

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

// Program-interruption codes of the faults the MMU raises (PGM_*), kept
// in Regs.Trap.
const (
	PgmProtection   = 0x04 // protection: DAT, instruction-execution or low-address
	PgmSegmentTrans = 0x10 // segment translation
	PgmPageTrans    = 0x11 // page translation
	PgmASCEType     = 0x38 // ASCE type: the address is beyond the ASCE's tables
	PgmRegion1Trans = 0x39 // region-first translation
	PgmRegion2Trans = 0x3a // region-second translation
	PgmRegion3Trans = 0x3b // region-third translation
)

// TEID bits (union teid, arch/s390/include/asm/fault.h at 6.12), as
// Translate records them in Regs.HW: bits 0-51 (from the left) are the
// page of the failing address, then the fetch/store indication, bit 56
// (instruction-execution protection), bit 61 (the address is valid: clear
// for low-address protection) and the address-space identifier.
const (
	TEIDAddrMask uint64 = ^uint64(0xfff)
	teidFSIShift        = 10
	teidFSIMask  uint64 = 3 << teidFSIShift
	TEIDB56      uint64 = 1 << 7 // instruction-execution protection
	TEIDB61      uint64 = 1 << 2 // the TEID's address and fields are valid
	teidASMask   uint64 = 3
)

// Fetch/store indication values (TEID_FSI_*), with facility 75, which
// every machine Linux supports has.
const (
	FSIUnknown = 0
	FSIStore   = 1
	FSIFetch   = 2
)

// Address-space identifiers (PSW_BITS_AS_*), the TEID's last two bits.
const (
	ASPrimary   = 0
	ASAccReg    = 1
	ASSecondary = 2
	ASHome      = 3
)

// RegionSecondSize is the asce_limit every process starts with: a
// region-second table, 8 PiB (_REGION2_SIZE). An access beyond it, with
// no mapping there, is an ASCE-type exception.
const RegionSecondSize uint64 = 1 << 53

// TaskSize is where the model's user range ends. The kernel's is
// TASK_SIZE_MAX, -PAGE_SIZE: a mapping that ends above the asce_limit
// upgrades the ASCE to a region-first table (check_asce_limit,
// crst_table_upgrade in arch/s390/mm, 6.12). The model's five levels of
// 512 entries reach 2^57, so mappings above 8 PiB work up to there.
const TaskSize uint64 = 1 << 57

// taskSizeMax is TASK_SIZE_MAX, the limit access_ok checks.
const taskSizeMax uint64 = 1<<64 - pageSize

// pageSize is s390's one base page size: 4 KiB (config keeps page_size
// at 4k for s390x).
const pageSize = 4096

// Low-address protection covers the first 512 bytes of the first two
// pages of an address space it applies to.
const lapBytes = 512

// FaultAddress is get_fault_address: the page the TEID names.
func FaultAddress(teid uint64) uint64 { return teid & TEIDAddrMask }

// FSI returns the TEID's fetch/store indication.
func FSI(teid uint64) int { return int(teid & teidFSIMask >> teidFSIShift) }

// FaultIsWrite is fault_is_write: the TEID says store.
func FaultIsWrite(teid uint64) bool { return FSI(teid) == FSIStore }

// AS returns the TEID's address-space identifier.
func AS(teid uint64) int { return int(teid & teidASMask) }

// IsKernelFault is is_kernel_fault (6.13 on; get_fault_type's
// KERNEL_FAULT before, without guest mappings): a fault in kernel mode
// that is not on the secondary space, where the uaccess routines reach
// user memory, is a fault on the kernel's own address space.
func IsKernelFault(user bool, teid uint64) bool { return !user && AS(teid) != ASSecondary }

// IsLowAddress reports whether a store to addr is subject to low-address
// protection where it applies: 0-511 and 4096-4607.
func IsLowAddress(addr uint64) bool {
	return addr < lapBytes || addr >= pageSize && addr < pageSize+lapBytes
}

// Arch is the s390x architecture of one machine.
type Arch struct {
	arch.NoPKeys // s390 has no protection keys for user memory (storage keys are not exposed to mmap)
	cfg          config.Kernel
	handler      *fault.Handler
}

// New returns the s390x architecture for a kernel configured as cfg.
func New(cfg config.Kernel) *Arch {
	a := &Arch{cfg: cfg}
	a.handler = fault.NewHandler(policy{}, &a.cfg)
	return a
}

// Handler returns the generic handler the front end calls.
func (a *Arch) Handler() *fault.Handler { return a.handler }

// Config returns the kernel configuration the machine was built with.
func (a *Arch) Config() config.Kernel { return a.cfg }

// Name implements kernel.Arch.
func (a *Arch) Name() string { return "s390x" }

// RetByte implements kernel.Arch: ret is br %r14, 07 fe (big-endian),
// whose first byte is 0x07.
func (a *Arch) RetByte() byte { return 0x07 }

// TaskSize implements mm.Arch: TaskSize.
func (a *Arch) TaskSize() uint64 { return TaskSize }

// MmapBase implements mm.Arch: below STACK_TOP (_REGION2_SIZE for a
// 64-bit task), less a stack gap.
func (a *Arch) MmapBase() uint64 { return RegionSecondSize - 256<<20 }

// NewEntriesYoung implements mm's youngEntries: s390's mk_pte and
// pfn_pte (mk_pte_phys) make every new entry young.
func (a *Arch) NewEntriesYoung() bool { return true }

// PageTableLevels tells mm the depth of the model's tables for s390x:
// five levels of 512 entries translate 57 bits, the 53 of the
// region-second ASCE and part of what an upgrade adds. (s390's own tables
// have 2048 entries above the page table's 256; the model keeps its
// geometry, which changes no outcome below 2^57.)
func (a *Arch) PageTableLevels() int { return 5 }

// PageProt implements mm.Arch (the s390 protection_map,
// arch/s390/mm/mmap.c at 6.12): a valid page is always readable (DAT has
// no read protection); PAGE_RO and PAGE_RX for private mappings,
// writable only when shared; _PAGE_NOEXEC unless VM_EXEC.
func (a *Arch) PageProt(flags mm.VMFlags, _ int) pgtable.PTE {
	if flags&mm.VMAccessFlags == 0 {
		return 0 // PAGE_NONE: invalid
	}
	p := pgtable.User | pgtable.Read
	if flags&mm.VMWrite != 0 && flags&mm.VMShared != 0 {
		p |= pgtable.Write
	}
	if flags&mm.VMExec != 0 {
		p |= pgtable.Exec
	}
	return p
}

// AccessOK implements kernel.Arch (__access_ok of asm-generic at 6.12):
// the range lies below TASK_SIZE_MAX, -PAGE_SIZE.
func (a *Arch) AccessOK(addr, size uint64) bool {
	return size <= taskSizeMax && addr <= taskSizeMax-size
}

// userSpace reports whether the access in r translates through the user
// ASCE: every user-mode access (primary space), and a kernel uaccess
// routine's (MVCOS with the user operand in the secondary space). Any
// other kernel access uses the kernel ASCE.
func userSpace(r *kernel.Regs) bool {
	return r.User || r.Insn == kernel.InsnCopyToUser || r.Insn == kernel.InsnCopyFromUser
}

// teid builds the TEID of an exception of r's access at addr.
func teid(r *kernel.Regs, as int) uint64 {
	fsi := uint64(FSIFetch)
	if r.Access == mm.AccessWrite {
		fsi = FSIStore
	}
	return r.Addr&TEIDAddrMask | fsi<<teidFSIShift | TEIDB61 | uint64(as)
}

// transCode returns the translation exception of a walk that stopped in
// a table of the given model level, by the range the missing table would
// have mapped: an invalid PTE is a page translation exception, a missing
// page table (1 MiB on s390, 2 MiB in the model) a segment translation
// exception, a missing segment table (2 GiB; 1 GiB) a region-third one;
// anything wider is an invalid entry of the region-second table the ASCE
// designates (PgmRegion1Trans needs a region-first ASCE, which the model
// never upgrades to).
func transCode(level int) int {
	switch level {
	case 1:
		return PgmPageTrans
	case 2:
		return PgmSegmentTrans
	case 3:
		return PgmRegion3Trans
	}
	return PgmRegion2Trans
}

// Translate implements kernel.Arch: DAT. A miss records the program
// check in r: Trap the interruption code, HW the TEID.
func (a *Arch) Translate(t *kernel.Task, r *kernel.Regs) *phys.Page {
	miss := func(code int, teid uint64) *phys.Page {
		r.Trap, r.HW = code, teid
		return nil
	}
	if !userSpace(r) {
		// The kernel ASCE (primary space in kernel mode): low-address
		// protection first, then the kernel's tables, which hold
		// nothing the model maps.
		if r.Access == mm.AccessWrite && IsLowAddress(r.Addr) {
			return miss(PgmProtection, uint64(ASPrimary)) // bit 61 clear: the TEID is not valid
		}
		return miss(PgmSegmentTrans, teid(r, ASPrimary))
	}
	as := ASPrimary
	if !r.User {
		as = ASSecondary
	}
	m := t.MM()
	if m == nil || r.Addr >= TaskSize {
		return miss(PgmASCEType, teid(r, as))
	}
	table, i, leaf := m.PT.Walk(r.Addr)
	if !leaf {
		if r.Addr >= RegionSecondSize && table.Level() >= 4 {
			return miss(PgmASCEType, teid(r, as)) // nothing mapped up there: no upgrade yet
		}
		return miss(transCode(table.Level()), teid(r, as))
	}
	pte := table.Load(i)
	if !pte.Present() || !pte.Has(pgtable.User) {
		return miss(transCode(table.Level()), teid(r, as))
	}
	// s390's entries have no referenced bit the hardware sets: the kernel
	// keeps young in software, an old entry (pte_mkold sets
	// _PAGE_INVALID) being invalid to DAT, so that the first access to
	// an entry fork copied (copy_present_pte's pte_mkold) or reclaim
	// aged is a translation exception, a minor fault handle_pte_fault
	// resolves by making it young (arch/s390/include/asm/pgtable.h;
	// every entry the kernel installs is young: NewEntriesYoung).
	if !pte.Has(pgtable.Accessed) {
		return miss(PgmPageTrans, teid(r, as))
	}
	switch r.Access {
	case mm.AccessWrite:
		if !pte.Has(pgtable.Write) {
			return miss(PgmProtection, teid(r, as)) // DAT protection
		}
	case mm.AccessExec:
		if !pte.Has(pgtable.Exec) {
			return miss(PgmProtection, teid(r, as)|TEIDB56) // instruction-execution protection
		}
	}
	return m.Phys().Lookup(table.Access(i, pte, r.Addr, r.Access == mm.AccessWrite))
}

// Trap implements kernel.Arch: do_protection_exception, or
// do_dat_exception for the translation exceptions.
func (a *Arch) Trap(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	if r.Trap == PgmProtection {
		if r.HW&TEIDB61 == 0 {
			return LowAddress(t, r)
		}
		if r.HW&TEIDB56 != 0 {
			// The failing address is the instruction's page (the PSW's).
			t.Tracer().Step("do_protection_exception", "instruction-execution protection: SEGV_ACCERR, no VMA looked up")
			res := fault.AccessErrNoVMA(t, a.request(r, true))
			return arch.React(t, r, &res)
		}
		return a.exception(t, r, true)
	}
	return a.exception(t, r, false)
}

// LowAddress is do_protection_exception's low-address protection case: a
// user-mode hit "cannot happen" and dies; in kernel mode it is a NULL
// pointer store: the fixup, else die.
func LowAddress(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	t.Tracer().Step("do_protection_exception", "low-address protection: die in user mode, fixup or die in kernel mode")
	if r.User {
		return kernel.Oops // die(regs, "Low-address protection")
	}
	return arch.FixupOrOops(r)
}

// request returns the generic handler's view of the exception in r: the
// TEID's page, and a write for a protection exception or a store
// indication, else a read (no instruction fetch is ever reported).
func (a *Arch) request(r *kernel.Regs, prot bool) fault.Request {
	acc := mm.AccessRead
	if prot || FaultIsWrite(r.HW) {
		acc = mm.AccessWrite
	}
	return fault.Request{
		Addr: FaultAddress(r.HW), Access: acc, User: r.User,
		HasFixup: kernel.SearchExceptionTables(r.Insn),
		NoFault:  r.NoFault,
	}
}

// exception is do_exception: a kernel fault goes without any lock to
// the fixup or die; anything else is the generic handler's.
func (a *Arch) exception(t *kernel.Task, r *kernel.Regs, prot bool) kernel.TrapAction {
	req := a.request(r, prot)
	if IsKernelFault(r.User, r.HW) {
		t.Tracer().Step("do_exception", "a fault on the kernel's address space: no lock is taken")
		res := fault.NoVMATraced(t, req)
		return arch.React(t, r, &res)
	}
	var res fault.Result
	a.handler.HandleTo(t, &req, &res)
	return arch.React(t, r, &res)
}

// VMFlags returns the VMA flags of which a fault needs one (do_exception's
// access): VM_WRITE for a write (a protection exception, or a store
// indication), else VM_ACCESS_FLAGS: a fetch or a load finds any
// accessible mapping good enough (6.12 and 6.18 the same).
func VMFlags(write bool) mm.VMFlags {
	if write {
		return mm.VMWrite
	}
	return mm.VMAccessFlags
}

// policy is the s390 part of the generic handler.
type policy struct{}

// AccessError implements fault.Arch.
func (policy) AccessError(v *mm.VMA, req fault.AccessCheck) abi.Code {
	if v.Flags&VMFlags(req.Access == mm.AccessWrite) == 0 {
		return abi.SEGV_ACCERR
	}
	return 0
}
