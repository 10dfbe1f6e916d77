// Package riscv is the riscv64 front end: its MMU (Sv48 or Sv57, R/W/X/U
// permission bits, SUM), its trap entry (scause 12, 13 and 15), and its
// reactions to the generic handler's verdict (arch/riscv/mm/fault.c).
//
// Where it differs from x86_64: exec-only memory is not readable (a load
// needs VM_READ or VM_WRITE), an instruction fetch needs VM_EXEC, an
// address above the user range is a plain SEGV_MAPERR at that address (no
// #GP, no vsyscall page). Today's riscv reports poison as a plain SIGBUS
// BUS_ADRERR; converted, it reports it as every arch does (the rule
// arch.RulePoisonADRERR; the native handler keeps the old way).
//
// The front end never reads VM_FAULT_* bits; arch.React acts on the
// Result.
package riscv

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

// scause values of the page-fault exceptions.
const (
	ExcInstPageFault  = 12
	ExcLoadPageFault  = 13
	ExcStorePageFault = 15
)

// Arch is the riscv64 architecture of one machine.
type Arch struct {
	arch.NoPKeys // riscv has no protection keys
	cfg          config.Kernel
	handler      *fault.Handler
	levels       int
}

// New returns the riscv64 architecture for a kernel configured as cfg:
// Sv48, or Sv57 with pgtable_levels=5.
func New(cfg config.Kernel) *Arch {
	a := &Arch{cfg: cfg, levels: 4}
	if cfg.PgtableLevels == 5 {
		a.levels = 5
	}
	a.handler = fault.NewHandler(policy{}, &a.cfg)
	return a
}

// Handler returns the generic handler the front end calls.
func (a *Arch) Handler() *fault.Handler { return a.handler }

// Name implements kernel.Arch.
func (a *Arch) Name() string { return "riscv64" }

// RetByte implements kernel.Arch: the first byte of c.ret (0x8082).
func (a *Arch) RetByte() byte { return 0x82 }

// TaskSize implements mm.Arch: half the range the page tables translate
// (TASK_SIZE_64: 1<<47 with Sv48, 1<<56 with Sv57).
func (a *Arch) TaskSize() uint64 { return 1 << (12 + 9*a.levels - 1) }

// MmapBase implements mm.Arch; the default map window stays below 47 bits.
func (a *Arch) MmapBase() uint64 { return min(a.TaskSize(), 1<<47) - 256<<20 }

// PageProt implements mm.Arch (the riscv protection_map): exec-only is X
// alone; write implies read; private writable memory starts read-only.
func (a *Arch) PageProt(flags mm.VMFlags, _ int) pgtable.PTE {
	return arch.ReadImpliedProt(flags)
}

// AccessOK implements kernel.Arch (__access_ok).
func (a *Arch) AccessOK(addr, size uint64) bool {
	ts := a.TaskSize()
	return size <= ts && addr <= ts-size
}

func scause(acc mm.Access) uint64 {
	switch acc {
	case mm.AccessWrite:
		return ExcStorePageFault
	case mm.AccessExec:
		return ExcInstPageFault
	}
	return ExcLoadPageFault
}

// Translate implements kernel.Arch: the MMU. Any address without a valid
// user entry is a page fault on that exact address.
func (a *Arch) Translate(t *kernel.Task, r *kernel.Regs) *phys.Page {
	r.Trap, r.HW = int(scause(r.Access)), scause(r.Access)
	m := t.MM()
	if m == nil || r.Addr >= a.TaskSize() {
		return nil
	}
	table, i := m.PT.Lookup(r.Addr)
	if table == nil {
		return nil
	}
	pte := table.Load(i)
	if !pte.Present() || !pte.Has(pgtable.User) {
		return nil
	}
	if !r.User && !r.UAccess {
		return nil // S-mode may touch user pages only with SUM set
	}
	var ok bool
	switch r.Access {
	case mm.AccessRead:
		ok = pte.Has(pgtable.Read) // no MXR: execute-only is unreadable
	case mm.AccessWrite:
		ok = pte.Has(pgtable.Write)
	case mm.AccessExec:
		ok = pte.Has(pgtable.Exec) && r.User
	}
	if !ok {
		return nil
	}
	return m.Phys().Lookup(table.Access(i, pte, r.Addr, r.Access == mm.AccessWrite))
}

// Trap implements kernel.Arch (handle_page_fault).
func (a *Arch) Trap(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	if !r.User && r.Addr < a.TaskSize() && !r.UAccess {
		// "access to user memory without uaccess routines": fix up if the
		// instruction can be, else die.
		t.Tracer().Step("handle_page_fault", "access to user memory without uaccess routines")
		return arch.FixupOrOops(r)
	}
	// Filled in field by field: a composite literal of a variable whose
	// address is taken is built in a temporary and copied.
	var req fault.Request
	req.Addr, req.Access, req.User = r.Addr, r.Access, r.User
	req.HasFixup = kernel.SearchExceptionTables(r.Insn)
	req.NoFault = r.NoFault
	var res fault.Result
	a.handler.HandleTo(t, &req, &res)
	return arch.React(t, r, &res)
}

// SCause returns the scause of a page fault for an access: 12 for a
// fetch, 13 for a load, 15 for a store.
func SCause(acc mm.Access) uint64 { return scause(acc) }

// AccessError is access_error (arch/riscv/mm/fault.c, the same at 6.1 and
// 6.12): whether v forbids the access of a page fault with this scause. A
// fetch needs VM_EXEC, a load VM_READ or VM_WRITE (write implies read), a
// store VM_WRITE. Linux panics on any other cause; Translate records no
// other. The generic front end's rule and the native handler's are this
// one function.
func AccessError(v *mm.VMA, cause uint64) bool {
	var need mm.VMFlags
	switch cause {
	case ExcInstPageFault:
		need = mm.VMExec
	case ExcStorePageFault:
		need = mm.VMWrite
	default:
		need = mm.VMRead | mm.VMWrite
	}
	return v.Flags&need == 0
}

// policy is the riscv part of the generic handler.
type policy struct{}

// AccessError implements fault.Arch (access_error).
func (policy) AccessError(v *mm.VMA, req fault.AccessCheck) abi.Code {
	if AccessError(v, scause(req.Access)) {
		return abi.SEGV_ACCERR
	}
	return 0
}
