// Package x86 is the x86_64 front end: its MMU (page-table permission
// bits, canonical addresses, SMAP, protection keys, the vsyscall page),
// its trap entry (the page-fault error code, #GP) and the early cases
// only x86 has (arch/x86/mm/fault.c): kernel addresses, the vsyscall
// page, reserved bits, SMAP and SMEP.
//
// The front end never reads VM_FAULT_* bits: it hands the fault to
// package fault and the Result to arch.React, the reaction every
// converted architecture shares.
package x86

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

// Page-fault error code bits (X86_PF_*).
const (
	PFProt  uint64 = 1 << 0 // protection violation on a present entry
	PFWrite uint64 = 1 << 1
	PFUser  uint64 = 1 << 2 // CPL 3
	PFRsvd  uint64 = 1 << 3 // reserved bit set in an entry
	PFInstr uint64 = 1 << 4 // instruction fetch
	PFPK    uint64 = 1 << 5 // protection-key violation
)

// Trap numbers.
const (
	TrapGP = 13 // #GP: general protection (non-canonical addresses)
	TrapPF = 14 // #PF: page fault
)

// pageSize is x86_64's one base page size (PAGE_SIZE: 4 KiB, always).
const pageSize = 4096

// VsyscallAddr is the address of the legacy vsyscall page.
const VsyscallAddr uint64 = 0xffffffffff600000

// execOnlyPKey is the key the kernel gives PROT_EXEC-only mappings when
// protection keys are on (execute_only_pkey): PKRU denies data access.
const execOnlyPKey = 1

// Arch is the x86_64 architecture of one machine.
type Arch struct {
	cfg     config.Kernel
	handler *fault.Handler
	vabits  uint // 48, or 57 with 5-level paging
	// taskSize is TASK_SIZE_MAX, which every trap compares with: kept,
	// not shifted out of vabits each time.
	taskSize uint64
	vsys     *phys.Page
}

// New returns the x86_64 architecture for a kernel configured as cfg.
func New(cfg config.Kernel) *Arch {
	a := &Arch{cfg: cfg, vabits: 48}
	if cfg.PgtableLevels == 5 {
		a.vabits = 57
	}
	a.taskSize = 1<<(a.vabits-1) - pageSize
	a.handler = fault.NewHandler(policy{a}, &a.cfg)
	if cfg.Vsyscall == config.VsyscallEmulate {
		a.vsys = vsyscallPage()
	}
	return a
}

// Handler returns the generic handler the front end calls.
func (a *Arch) Handler() *fault.Handler { return a.handler }

// Name implements kernel.Arch.
func (a *Arch) Name() string { return "x86_64" }

// RetByte implements kernel.Arch: ret is 0xc3.
func (a *Arch) RetByte() byte { return 0xc3 }

// TaskSize implements mm.Arch: TASK_SIZE_MAX, one page below the end of
// the lower canonical half.
func (a *Arch) TaskSize() uint64 { return a.taskSize }

// MmapBase implements mm.Arch. With 5-level paging the default map window
// stays below 47 bits.
func (a *Arch) MmapBase() uint64 { return 1<<47 - pageSize - 256<<20 }

// canonical reports whether addr's bits above the virtual-address width
// are copies of its top bit.
func (a *Arch) canonical(addr uint64) bool {
	top := int64(addr) >> (a.vabits - 1)
	return top == 0 || top == -1
}

// PageProt implements mm.Arch (the x86 protection_map): every accessible
// mapping is readable (a PTE cannot be write-only or execute-only); write
// permission is given up front only to shared mappings; NX unless exec.
func (a *Arch) PageProt(flags mm.VMFlags, pkey int) pgtable.PTE {
	if flags&mm.VMAccessFlags == 0 {
		return 0 // PAGE_NONE
	}
	p := pgtable.User | pgtable.Read | pgtable.PKeyBits(pkey)
	if flags&mm.VMWrite != 0 && flags&mm.VMShared != 0 {
		p |= pgtable.Write
	}
	if flags&mm.VMExec != 0 {
		p |= pgtable.Exec
	}
	return p
}

// AccessPermitted implements mm.Arch (arch_vma_access_permitted): PKRU
// denies data access to the execute-only key; it never blocks a fetch.
func (a *Arch) AccessPermitted(v *mm.VMA, write, exec, foreign bool) bool {
	if !a.cfg.PKeys || exec || foreign {
		return true
	}
	return v.PKey != execOnlyPKey
}

// MprotectPKey implements mm.Arch (arch_override_mprotect_pkey).
func (a *Arch) MprotectPKey(prot mm.Prot, pkey int) int {
	if !a.cfg.PKeys {
		return 0
	}
	if prot == mm.ProtExec {
		return execOnlyPKey
	}
	if pkey == execOnlyPKey {
		return 0
	}
	return pkey
}

// AccessOK implements kernel.Arch (access_ok): the whole range lies below
// TASK_SIZE_MAX.
func (a *Arch) AccessOK(addr, size uint64) bool {
	end := addr + size
	return end >= addr && end <= a.TaskSize()
}

// IsVsyscall reports whether addr is in the vsyscall page
// (is_vsyscall_vaddr), which counts as user space though it lies above
// TASK_SIZE_MAX.
func IsVsyscall(addr uint64) bool { return addr&^(pageSize-1) == VsyscallAddr }

// Translate implements kernel.Arch: the MMU.
func (a *Arch) Translate(t *kernel.Task, r *kernel.Regs) *phys.Page {
	if !a.canonical(r.Addr) {
		r.Trap, r.HW = TrapGP, 0
		return nil
	}
	ec := uint64(0)
	if r.User {
		ec |= PFUser
	}
	switch r.Access {
	case mm.AccessWrite:
		ec |= PFWrite
	case mm.AccessExec:
		ec |= PFInstr
	}
	r.Trap = TrapPF
	if IsVsyscall(r.Addr) {
		return a.translateVsyscall(r, ec)
	}
	if r.Addr >= a.TaskSize() {
		// Kernel memory is never user-accessible; the model does not map
		// the kernel half at all.
		r.HW = ec
		return nil
	}
	m := t.MM()
	if m == nil {
		r.HW = ec
		return nil
	}
	table, i := m.PT.Lookup(r.Addr)
	if table == nil {
		r.HW = ec
		return nil
	}
	pte := table.Load(i)
	if !pte.Present() {
		r.HW = ec
		return nil
	}
	ok := pte.Has(pgtable.User)
	switch r.Access {
	case mm.AccessRead:
		ok = ok && pte.Has(pgtable.Read)
	case mm.AccessWrite:
		ok = ok && pte.Has(pgtable.Write)
	case mm.AccessExec:
		ok = ok && pte.Has(pgtable.Exec) && r.User // SMEP: never run user pages in the kernel
	}
	if !r.User && !r.UAccess {
		ok = false // SMAP: user pages are off limits outside uaccess routines
	}
	if ok && r.Access != mm.AccessExec && a.cfg.PKeys && pte.PKey() == execOnlyPKey {
		r.HW = ec | PFProt | PFPK
		return nil
	}
	if !ok {
		r.HW = ec | PFProt
		return nil
	}
	return m.Phys().Lookup(table.Access(i, pte, r.Addr, r.Access == mm.AccessWrite))
}

// translateVsyscall maps the vsyscall page: with vsyscall=emulate it is a
// real read-only, non-executable user page; otherwise it has no entry.
func (a *Arch) translateVsyscall(r *kernel.Regs, ec uint64) *phys.Page {
	if a.cfg.Vsyscall != config.VsyscallEmulate || !r.User {
		r.HW = ec
		return nil
	}
	if r.Access != mm.AccessRead {
		r.HW = ec | PFProt
		return nil
	}
	return a.vsys
}

// vsyscallPage returns the contents of the emulated vsyscall page: three
// entries of "mov $nr, %rax; syscall; ret", padded with int3.
func vsyscallPage() *phys.Page {
	p := phys.NewReserved()
	d := p.Data()
	for i := range d {
		d[i] = 0xcc
	}
	for i, nr := range []uint32{96, 201, 309} { // gettimeofday, time, getcpu
		copy(d[i*0x400:], []byte{0x48, 0xc7, 0xc0, byte(nr), byte(nr >> 8), 0, 0, 0x0f, 0x05, 0xc3})
	}
	return p
}

// Trap implements kernel.Arch: the #GP and #PF entries.
func (a *Arch) Trap(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	if r.Trap == TrapGP {
		return GeneralProtection(t, r)
	}
	if r.Addr >= a.TaskSize() && !IsVsyscall(r.Addr) {
		return a.kernAddrFault(t, r)
	}
	return a.userAddrFault(t, r)
}

// GeneralProtection is the #GP entry for an access to a non-canonical
// address (exc_general_protection): hardware, not a page fault, so the
// generic front end and the native handler share it. A user access gets
// SIGSEGV with si_code SI_KERNEL and no address; a kernel access is fixed
// up or oopses.
func GeneralProtection(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	if r.User {
		t.Tracer().Step("exc_general_protection", "a user access: SIGSEGV SI_KERNEL with no address")
		t.ForceSig(abi.SIGSEGV)
		return kernel.Restart
	}
	return arch.FixupOrOops(r)
}

// kernAddrFault handles a fault on a kernel address, from either mode
// (do_kern_addr_fault): no lock, no VMA; a bad area.
func (a *Arch) kernAddrFault(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	t.Tracer().Step("do_kern_addr_fault", "a kernel address: no VMA, no lock")
	var req fault.Request
	a.request(r, &req)
	res := fault.NoVMATraced(t, req)
	return arch.React(t, r, &res)
}

// request fills in *req, the generic handler's view of the fault in r,
// field by field: a Request returned by value into a variable whose
// address is taken is built in a temporary and copied.
func (a *Arch) request(r *kernel.Regs, req *fault.Request) {
	req.Addr, req.Access, req.User = r.Addr, r.Access, r.User
	req.Prot = r.HW&PFProt != 0
	req.PKey = r.HW&PFPK != 0
	req.HasFixup = kernel.SearchExceptionTables(r.Insn)
	req.NoFault = r.NoFault
}

// userAddrFault handles a fault on a user address (do_user_addr_fault).
func (a *Arch) userAddrFault(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	ec := r.HW
	tr := t.Tracer()
	switch {
	case ec&(PFUser|PFInstr) == PFInstr:
		tr.Step("do_user_addr_fault", "SMEP: the kernel executed user memory: oops")
		return kernel.Oops // the kernel tried to execute user memory
	case ec&PFRsvd != 0:
		tr.Step("pgtable_bad", "a reserved bit is set: oops")
		return kernel.Oops // pgtable_bad: corrupted page tables
	case !r.User && !r.UAccess && ec&PFUser == 0:
		tr.Step("do_user_addr_fault", "SMAP: a kernel access to user memory outside a uaccess routine: oops")
		return kernel.Oops // SMAP: a kernel access outside uaccess, no fixup looked for
	}
	if IsVsyscall(r.Addr) {
		if act, ok := a.EmulateVsyscall(t, r); ok {
			return act
		}
		tr.Step("emulate_vsyscall", "not a call it emulates: the fault goes on")
	}
	var req fault.Request
	a.request(r, &req)
	var res fault.Result
	a.handler.HandleTo(t, &req, &res)
	return arch.React(t, r, &res)
}

// EmulateVsyscall emulates a call into the vsyscall page
// (emulate_vsyscall); the native handler calls it too. It reports false
// when the fault is not one it handles (reads, writes, vsyscall=none):
// the fault then goes on and ends as a bad area, since no VMA covers the
// page.
func (a *Arch) EmulateVsyscall(t *kernel.Task, r *kernel.Regs) (kernel.TrapAction, bool) {
	ec := r.HW
	if ec&(PFWrite|PFUser) != PFUser || ec&PFInstr == 0 || a.cfg.Vsyscall == config.VsyscallNone {
		return 0, false
	}
	off := r.Addr - VsyscallAddr
	if off&^0xc00 != 0 || off>>10 >= 3 {
		// A misaligned entry: SIGSEGV with no address (force_sig).
		t.Tracer().Step("emulate_vsyscall", "a misaligned entry: SIGSEGV with no address")
		t.ForceSig(abi.SIGSEGV)
		return kernel.Restart, true
	}
	// gettimeofday, time or getcpu ran and returned to the caller.
	return kernel.Emulated, true
}

// policy is the x86 part of the generic handler.
type policy struct{ a *Arch }

// AccessError implements fault.Arch (access_error, then
// bad_area_access_error's pkey classification). An instruction fetch is
// checked as a read: a fetch from a readable non-executable page maps it
// first, and the refault on the present NX entry is the access error.
func (p policy) AccessError(v *mm.VMA, req fault.AccessCheck) abi.Code {
	write, exec := req.Access == mm.AccessWrite, req.Access == mm.AccessExec
	pkeyDenied := p.a.cfg.PKeys && (req.PKey || !p.a.AccessPermitted(v, write, exec, false))
	var denied bool
	switch {
	case pkeyDenied:
		denied = true
	case write:
		denied = v.Flags&mm.VMWrite == 0
	case req.Prot:
		denied = true // a read of a present entry that faulted
	default:
		denied = !v.Accessible()
	}
	switch {
	case !denied:
		return 0
	case pkeyDenied:
		return abi.SEGV_PKUERR
	}
	return abi.SEGV_ACCERR
}

// CopyUser implements kernel.Arch. x86_64's copy_user_generic is rep
// movsb (or, without FSRM, an unrolled loop whose exception fixup falls
// back to it), which stops at the faulting byte and reports exactly what
// it moved: a kernel copy that faults part-way gets every byte before the
// fault.
func (a *Arch) CopyUser(c kernel.UserCopy) (copied, stored uint64) { return c.CopyExact() }
