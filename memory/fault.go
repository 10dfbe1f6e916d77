// Package memory resolves page faults: HandleMMFault is handle_mm_fault,
// and returns the real VM_FAULT_* bits. It has one function per path, as
// mm/memory.c does: do_anonymous_page, do_fault (read, COW and shared),
// do_wp_page, the PTE-marker and swap-entry paths.
//
// Backings (shmem now; files, hugetlb and userfaultfd later) plug in
// through the Backing interface, as vm_operations_struct does.
package memory

import (
	"fmt"
	"strings"

	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
	"github.com/faultline/faultline/trace"
	"github.com/faultline/faultline/vmfault"
)

// Faulter is the task a fault is resolved for (the kernel's current).
type Faulter interface {
	sched.Sleeper
	// AccountFault counts a completed fault against the task: major or
	// minor (current->maj_flt / min_flt).
	AccountFault(major bool)
	// SignalPending is signal_pending(current).
	SignalPending() bool
	// FatalSignalPending is fatal_signal_pending(current).
	FatalSignalPending() bool
	// MemCG is the task's memory cgroup: nil for the root, which has no
	// limit.
	MemCG() *phys.MemCG
	// PageCache is the task's cache of free page frames (its CPU's
	// per-CPU page list), or nil: pages then come from the zone.
	PageCache() *phys.Cache
	// Tracer is the task's trace: nil when tracing is off.
	Tracer() *trace.Track
}

// charge charges page, just allocated and seen by nobody else yet, to the
// task's memory cgroup (mem_cgroup_charge).
// Over the limit it reclaims; when nothing can be reclaimed it runs the
// memcg OOM killer. A task that is dying, the killer's victim included, is
// charged anyway, so that it can exit and free what it has.
// Preconditions: cg is t's memory cgroup, not the root (nil), which
// charges nothing.
func charge(t Faulter, cg *phys.MemCG, page *phys.Page) bool {
	n := int64(1) << page.Order()
	for tries := 0; tries < 8; tries++ {
		if cg.TryCharge(n) {
			page.CommitCharge(cg)
			return true
		}
		if cg.Reclaim != nil && cg.Reclaim(n) > 0 {
			continue
		}
		if !t.FatalSignalPending() && (cg.OOM == nil || !cg.OOM()) {
			break // nobody to kill
		}
		if t.FatalSignalPending() {
			cg.ForceCharge(n)
			page.CommitCharge(cg)
			return true
		}
	}
	return false
}

// allocFrame takes a frame for the task: from its page cache when it has
// one of alloc's (rmqueue_pcplist), else from the zone.
func allocFrame(t Faulter, alloc *phys.Allocator, flags phys.PageFlags) (*phys.Page, error) {
	if c := t.PageCache(); c != nil && c.Allocator() == alloc {
		return c.Alloc(flags)
	}
	return alloc.Alloc(flags)
}

// allocPageNoRetry allocates a page for read-ahead: over the memory limit
// it reclaims once and then gives up rather than invoke the OOM killer
// (__GFP_NORETRY).
func allocPageNoRetry(t Faulter, alloc *phys.Allocator) *phys.Page {
	p, err := allocFrame(t, alloc, 0)
	if err != nil {
		return nil
	}
	cg := t.MemCG()
	if cg == nil {
		return p
	}
	n := int64(1) << p.Order()
	if cg.TryCharge(n) || (cg.Reclaim != nil && cg.Reclaim(n) > 0 && cg.TryCharge(n)) {
		p.CommitCharge(cg)
		return p
	}
	p.Put()
	return nil
}

// allocPage allocates a zeroed page for the task and charges it. A new
// anonymous page is exclusive to the mapping it is made for.
func allocPage(t Faulter, alloc *phys.Allocator, flags phys.PageFlags) *phys.Page {
	if flags&phys.FlagAnon != 0 {
		flags |= phys.FlagAnonExclusive
	}
	// allocFrame, written out: a call fewer on every fault's path.
	var p *phys.Page
	var err error
	if c := t.PageCache(); c != nil && c.Allocator() == alloc {
		p, err = c.Alloc(flags)
	} else {
		p, err = alloc.Alloc(flags)
	}
	if err != nil {
		return nil
	}
	if cg := t.MemCG(); cg != nil && !charge(t, cg, p) {
		p.Put()
		return nil
	}
	return p
}

// Backing supplies the pages of a VMA that is not anonymous private memory.
type Backing interface {
	mm.VMOperations
	// Fault finds or creates the page at f.PgOff and returns it in f.Page
	// with a reference the caller owns (vm_operations_struct.fault). It
	// may drop the fault lock and return vmfault.Retry; it never returns
	// Retry together with an error bit.
	Fault(f *Fault) vmfault.Reason
}

// Fault is the state of one fault being resolved (struct vm_fault).
type Fault struct {
	VMA         *mm.VMA
	Address     uint64 // page-aligned
	RealAddress uint64 // as faulted
	PgOff       uint64
	Flags       vmfault.Flags
	Task        Faulter
	// Page is set by Backing.Fault.
	Page *phys.Page

	table *pgtable.Table
	index int
	orig  pgtable.PTE
	// uffdWP: the entry was a uffd-wp marker of a VMA registered for
	// write-protect faults, and what the fault maps keeps the protection
	// (vmf_orig_pte_uffd_wp).
	uffdWP bool
	// tr is the task's trace (nil: off).
	tr *trace.Track
}

func (f *Fault) write() bool { return f.Flags&vmfault.FlagWrite != 0 }

// HStateShift returns the page shift of huge-page state idx
// (hstate_index_to_shift) over 1<<pageShift byte base pages: PMD-sized
// pages first (21 over 4 KiB pages), then PUD-sized (30).
func HStateShift(idx int, pageShift uint) uint {
	bits := pageShift - 3 // a page table's index bits
	switch idx {
	case 0:
		return pageShift + bits
	case 1:
		return pageShift + 2*bits
	}
	return 0
}

// HandleMMFault resolves a fault at addr in vma (handle_mm_fault). The
// caller holds the mmap lock for reading, or vma's read lock when flags
// has vmfault.FlagVMALock.
//
// Postconditions: when the result has vmfault.Retry or vmfault.Completed
// the fault lock has been released; otherwise the caller still holds it.
func HandleMMFault(vma *mm.VMA, addr uint64, flags vmfault.Flags, t Faulter) vmfault.Reason {
	tr := t.Tracer()
	if tr.On() {
		tr.Begin("handle_mm_fault", flags.String())
	}
	ret := sanitizeFaultFlags(vma, flags)
	if ret != 0 {
		tr.Step("sanitize_fault_flags", "flags no fault may carry: VM_FAULT_SIGSEGV")
	} else {
		write := flags&vmfault.FlagWrite != 0
		exec := flags&vmfault.FlagInstruction != 0
		switch {
		case !vma.MM().Arch().AccessPermitted(vma, write, exec, flags&vmfault.FlagRemote != 0):
			tr.Step("arch_vma_access_permitted", "denied (protection keys): VM_FAULT_SIGSEGV")
			ret = vmfault.SigSegv
		case vma.Flags&mm.VMHugetlb != 0:
			ret = hugetlbFault(vma, addr, flags, t, tr)
		default:
			ret = handlePTEFault(vma, addr, flags, t, tr)
		}
	}
	accountFault(t, flags, ret)
	if tr.On() {
		tr.End("handle_mm_fault", DescribeReason(ret))
	}
	return ret
}

// DescribeReason spells VM_FAULT_* bits as the kernel names them ("0"
// for a fault resolved).
func DescribeReason(ret vmfault.Reason) string {
	if ret == 0 {
		return "0"
	}
	parts := strings.Split(ret.String(), "|")
	for i, p := range parts {
		parts[i] = "VM_FAULT_" + p
	}
	return strings.Join(parts, "|")
}

// sanitizeFaultFlags rejects flag combinations no fault may carry
// (sanitize_fault_flags).
func sanitizeFaultFlags(vma *mm.VMA, flags vmfault.Flags) vmfault.Reason {
	if flags&vmfault.FlagUnshare != 0 && flags&vmfault.FlagWrite != 0 {
		return vmfault.SigSegv
	}
	if flags&vmfault.FlagWrite != 0 {
		// Write faults on mappings that can never be written are
		// impossible, and a forced write only applies to COW mappings.
		if vma.Flags&mm.VMMayWrite == 0 || vma.Flags&mm.VMWrite == 0 && !vma.IsCOW() {
			return vmfault.SigSegv
		}
	}
	if flags&vmfault.FlagVMALock != 0 && flags&vmfault.FlagRetryNowait != 0 {
		return vmfault.SigSegv
	}
	return 0
}

// accountFault counts a finished fault (mm_account_fault): retried
// attempts count when they complete; failures are not maj/min faults; a
// fault that needed I/O or was retried is major.
func accountFault(t Faulter, flags vmfault.Flags, ret vmfault.Reason) {
	if ret&(vmfault.Retry|vmfault.Error) == 0 {
		t.AccountFault(ret&vmfault.Major != 0 || flags&vmfault.FlagTried != 0)
	}
}

// handlePTEFault dispatches on the entry at addr (__handle_mm_fault and
// handle_pte_fault).
func handlePTEFault(vma *mm.VMA, addr uint64, flags vmfault.Flags, t Faulter, tr *trace.Track) vmfault.Reason {
	table, i := vma.MM().PT.Alloc(addr)
	// Filled in field by field: a composite literal of a variable whose
	// address is taken is built in a temporary and copied.
	var f Fault
	// The base page from the shift the table keeps: addr & PAGE_MASK,
	// and linear_page_index (vma.PageOffset) with the same shift.
	f.VMA, f.Address, f.RealAddress = vma, addr&table.PageMask(), addr
	f.PgOff, f.Flags, f.Task = (addr-vma.Start)>>table.PageShift()+vma.PgOff, flags, t
	f.table, f.index, f.orig, f.tr = table, i, table.Load(i), tr
	pte := f.orig
	switch {
	case pte.None():
		// do_pte_missing, written out: a call fewer on every fault's path.
		if vma.Anonymous() {
			return doAnonymousPage(&f)
		}
		return doFault(&f)
	case pte.Has(pgtable.ProtNone):
		f.tr.Step("do_numa_page", "a PROT_NONE entry of an accessible VMA: access restored")
		return doNUMAPage(&f)
	case !pte.Present():
		return doSwapPage(&f)
	case f.write() && !pte.Has(pgtable.Write):
		return doWPPage(&f)
	}
	f.tr.Step("handle_pte_fault", "the entry already allows the access: accessed/dirty bits set")
	return f.markAccessed()
}

// markAccessed handles an entry that already allows the access (another
// thread resolved it, or only the accessed/dirty bits were missing): the
// bits are set, if the entry is unchanged, and the access retries (the
// tail of handle_pte_fault and hugetlb_fault).
func (f *Fault) markAccessed() vmfault.Reason {
	f.table.Lock()
	if f.table.Load(f.index) == f.orig {
		b := pgtable.Accessed
		if f.write() {
			b |= pgtable.Dirty
		}
		f.table.Store(f.index, f.orig|b)
	}
	f.table.Unlock()
	return 0
}

// doPTEMissing handles an empty entry (do_pte_missing).
func doPTEMissing(f *Fault) vmfault.Reason {
	if f.VMA.Anonymous() {
		return doAnonymousPage(f)
	}
	return doFault(f)
}

// installLocked sets the entry if it is still what the fault saw. It
// reports false when the fault raced with another resolver; the caller
// then drops what it prepared. An entry that replaces a uffd-wp marker is
// write-protected for userfaultfd (set_pte_range: pte_mkuffd_wp), so that
// a write faults again and is reported. Preconditions: the table lock is
// held.
func (f *Fault) installLocked(pte pgtable.PTE) bool {
	if f.table.Load(f.index) != f.orig {
		return false
	}
	if f.uffdWP && pte.Mapped() {
		pte = (pte | pgtable.UffdWP) &^ pgtable.Write
	}
	f.table.Store(f.index, pte)
	return true
}

// anonPrepare makes sure the faulting VMA has an anon_vma before an
// anonymous page goes into it (vmf_anon_prepare, Linux 6.18). Choosing one
// looks at the neighbouring VMAs, which only the mmap lock keeps still: a
// fault that holds just the VMA lock tries the mmap lock for reading and,
// when that fails, drops the VMA lock and returns VM_FAULT_RETRY, so that
// the generic handler retries under the mmap lock. Once the VMA has an
// anon_vma this is one load.
//
// Postconditions: with vmfault.Retry the VMA lock has been released.
func (f *Fault) anonPrepare() vmfault.Reason {
	if f.VMA.HasAnonVMA() {
		return 0
	}
	return f.anonPrepareSlow()
}

// anonPrepareSlow is anonPrepare for a VMA that has no anon_vma yet.
func (f *Fault) anonPrepareSlow() vmfault.Reason {
	v := f.VMA
	if f.Flags&vmfault.FlagVMALock == 0 {
		v.PrepareAnon()
		return 0
	}
	m := v.MM()
	if !m.MmapReadTryLock() {
		f.tr.Step("vmf_anon_prepare", "no anon_vma and the mmap lock is contended: the VMA lock is dropped, VM_FAULT_RETRY")
		v.EndRead()
		return vmfault.Retry
	}
	v.PrepareAnon()
	m.MmapReadUnlock()
	return 0
}

// doAnonymousPage maps fresh anonymous memory (do_anonymous_page): the
// shared zero page for a read when the configuration has one, else a new
// zeroed page, writable at once when the VMA is.
func doAnonymousPage(f *Fault) vmfault.Reason {
	vma := f.VMA
	if vma.Shared() {
		f.tr.Step("do_anonymous_page", "shared memory without a backing: VM_FAULT_SIGBUS")
		return vmfault.SigBus // shared memory without a backing
	}
	m := vma.MM()
	if !f.write() && m.Config().ZeroPage {
		if vma.Flags&mm.VMUffdMiss != 0 {
			f.tr.Step("do_anonymous_page", "a read of a page userfaultfd registered as missing")
			return handleUserfault(f, mm.VMUffdMiss) // deliver the fault to user space
		}
		f.tr.Step("do_anonymous_page", "a read: the shared zero page, mapped read-only")
		zero := m.Phys().ZeroPage()
		pte := pgtable.MkPTE(zero.PFN(), vma.PageProt&^pgtable.Write) | pgtable.Special | m.NewPTEBits()
		f.table.Lock()
		f.installLocked(pte)
		f.table.Unlock()
		return 0
	}
	// A page of its own: the anon_vma and the charged page come before
	// userfaultfd hears of the fault (do_anonymous_page).
	if ret := f.anonPrepare(); ret != 0 {
		return ret
	}
	page := allocPage(f.Task, m.Phys(), phys.FlagAnon)
	if page == nil {
		f.tr.Step("do_anonymous_page", "no page could be allocated or charged: VM_FAULT_OOM")
		return vmfault.OOM
	}
	if vma.Flags&mm.VMUffdMiss != 0 {
		f.tr.Step("do_anonymous_page", "a page userfaultfd registered as missing")
		page.Put()
		return handleUserfault(f, mm.VMUffdMiss)
	}
	f.tr.Step("do_anonymous_page", "a new zeroed page")
	pte := pgtable.MkPTE(page.PFN(), vma.PageProt) | pgtable.Accessed
	if vma.Flags&mm.VMWrite != 0 {
		pte |= pgtable.Write | pgtable.Dirty
	}
	page.AddNewMap() // before the entry makes the page visible
	f.table.Lock()
	if !f.installLocked(pte) {
		f.table.Unlock()
		page.DropNewMap()
		page.Put()
		return 0
	}
	f.table.Unlock()
	return 0
}

// doFault asks the backing for the page (do_fault): a read maps the
// backing's page; a private write maps a copy (do_cow_fault); a shared
// write maps the backing's page writable and dirty (do_shared_fault).
func doFault(f *Fault) vmfault.Reason {
	b, ok := f.VMA.Ops.(Backing)
	if !ok {
		f.tr.Step("do_fault", "no ->fault: VM_FAULT_SIGBUS")
		return vmfault.SigBus // no ->fault
	}
	switch {
	case !f.write():
		f.tr.Step("do_read_fault", "a read of a file or shmem page")
		return doReadFault(f, b)
	case !f.VMA.Shared():
		f.tr.Step("do_cow_fault", "a private write: a copy of the backing's page")
		return doCOWFault(f, b)
	}
	f.tr.Step("do_shared_fault", "a shared write: the backing's page, writable")
	return doSharedFault(f, b)
}

// backingFault calls the backing's ->fault. The model's own backings are
// called by their type, which escape analysis can see through, so that
// the Fault stays on the faulting goroutine's stack as struct vm_fault
// stays on the kernel stack: a call through the interface would move it
// to the heap on every file fault. Another backing (a test's) gets a heap
// copy, whose state becomes the fault's when it returns.
func backingFault(b Backing, f *Fault) vmfault.Reason {
	switch b := b.(type) {
	case *File:
		return b.Fault(f)
	case *Shmem:
		return b.Fault(f)
	}
	vmf := new(Fault)
	*vmf = *f
	ret := b.Fault(vmf)
	*f = *vmf
	return ret
}

// mapPager is a backing whose cached pages fault-around may map without
// I/O (->map_pages).
type mapPager interface {
	CachedPage(pgoff uint64, t Faulter) *phys.Page
}

// mkwriter is a backing told before a page is written through a shared
// mapping (->page_mkwrite); it reports whether the page was clean.
type mkwriter interface {
	PageMkwrite(p *phys.Page) bool
}

// faultAroundBytes is fault_around_bytes (64 KiB): fault-around maps
// that much, in pages of the base size (16 of 4 KiB, 4 of 16 KiB; with
// 64 KiB pages, none: a window of one page is no fault-around).
const faultAroundBytes = 64 << 10

func doReadFault(f *Fault, b Backing) vmfault.Reason {
	// should_fault_around (mm/memory.c, 6.4 on): a ->map_pages, no uffd
	// minor or wp registration, and a window of more than one page (none
	// with 64 KiB pages: "a single page implies no faulting 'around'").
	if mp, ok := b.(mapPager); ok && f.VMA.Flags&(mm.VMUffdMinor|mm.VMUffdWP) == 0 && faultAroundBytes>>f.VMA.MM().PageShift() > 1 {
		if doFaultAround(f, mp) {
			f.tr.Step("do_fault_around", "the faulting page was cached and is mapped: VM_FAULT_NOPAGE")
			return vmfault.NoPage
		}
	}
	ret := backingFault(b, f)
	if ret&(vmfault.Error|vmfault.NoPage|vmfault.Retry) != 0 {
		return ret
	}
	return ret | f.finishFault(f.Page, f.VMA.PageProt, false)
}

func doCOWFault(f *Fault, b Backing) vmfault.Reason {
	m := f.VMA.MM()
	if ret := f.anonPrepare(); ret != 0 {
		return ret
	}
	page := allocPage(f.Task, m.Phys(), phys.FlagAnon)
	if page == nil {
		return vmfault.OOM
	}
	ret := backingFault(b, f)
	if ret&(vmfault.Error|vmfault.NoPage|vmfault.Retry) != 0 {
		page.Put()
		return ret
	}
	page.CopyFrom(f.Page)
	f.Page.Put()
	return ret | f.finishFault(page, f.VMA.PageProt|pgtable.Write, true)
}

// doFaultAround maps the cached pages around a read fault, up to
// fault_around_bytes of them (16 pages of 4 KiB) in the aligned window
// around it, inside the VMA and the PTE table, over
// empty entries only (do_fault_around, filemap_map_pages). It reports
// whether the faulting page itself got mapped.
func doFaultAround(f *Fault, mp mapPager) bool {
	faultAroundPages := uint64(faultAroundBytes) >> f.VMA.MM().PageShift() // fault_around_pages
	pteOff := uint64(f.table.Index(f.Address))
	vmaOff := f.PgOff - f.VMA.PgOff
	from := max(pteOff&^(faultAroundPages-1), pteOff-min(pteOff, vmaOff))
	to := min(from+faultAroundPages, uint64(f.table.Len()), pteOff+f.VMA.Pages()-vmaOff)
	mapped, n := false, 0
	for i := from; i < to; i++ {
		slot := f.table.Slot(int(i))
		if !slot.Load().None() {
			continue
		}
		page := mp.CachedPage(f.PgOff+i-pteOff, f.Task)
		if page == nil {
			continue
		}
		pte := pgtable.MkPTE(page.PFN(), f.VMA.PageProt) | f.VMA.MM().NewPTEBits() // set_pte_range's prefault
		f.table.Lock()
		if !slot.Load().None() {
			f.table.Unlock()
			page.Put()
			continue
		}
		slot.Store(pte)
		page.AddMap()
		f.table.Unlock()
		n++
		if i == pteOff {
			mapped = true
		}
	}
	if f.tr.On() {
		f.tr.Step("do_fault_around", fmt.Sprintf("mapped %d cached pages of the window of %d", n, to-from))
	}
	return mapped
}

func doSharedFault(f *Fault, b Backing) vmfault.Reason {
	ret := backingFault(b, f)
	if ret&(vmfault.Error|vmfault.NoPage|vmfault.Retry) != 0 {
		return ret
	}
	dirtied := false
	if mk, ok := b.(mkwriter); ok {
		dirtied = mk.PageMkwrite(f.Page)
	} else {
		f.Page.SetFlags(phys.FlagDirty)
	}
	page := f.Page
	ret |= f.finishFault(page, f.VMA.PageProt|pgtable.Write, true)
	return ret | f.faultDirtySharedPage(dirtied)
}

// faultDirtySharedPage throttles the writer of a page it just dirtied
// (fault_dirty_shared_page): on a first attempt the fault lock is dropped
// for it, and the fault is then complete: VM_FAULT_COMPLETED.
func (f *Fault) faultDirtySharedPage(dirtied bool) vmfault.Reason {
	if dirtied && f.Flags.AllowRetryFirst() && f.Flags&vmfault.FlagRetryNowait == 0 {
		f.tr.Step("fault_dirty_shared_page", "the page was dirtied: the fault lock is dropped for throttling, VM_FAULT_COMPLETED")
		f.releaseLock()
		return vmfault.Completed
	}
	return 0
}

// finishFault maps page, whose reference the fault owns, at the faulting
// entry (finish_fault). A lost race drops the page.
func (f *Fault) finishFault(page *phys.Page, prot pgtable.PTE, dirty bool) vmfault.Reason {
	pte := pgtable.MkPTE(page.PFN(), prot) | pgtable.Accessed
	if dirty {
		pte |= pgtable.Dirty
	}
	return f.installEntry(page, pte)
}

// installEntry maps page, whose reference the fault owns, with entry pte
// at the faulting entry (set_pte_range and its hugetlb twin), unless a
// racing fault got there first; then the page is dropped.
func (f *Fault) installEntry(page *phys.Page, pte pgtable.PTE) vmfault.Reason {
	f.table.Lock()
	if !f.installLocked(pte) {
		f.table.Unlock()
		page.Put()
		return 0
	}
	page.AddMap()
	f.table.Unlock()
	return 0
}

// doWPPage handles a write to a present, write-protected entry
// (do_wp_page): shared memory is made writable; a private anonymous page
// nobody else holds is reused; anything else is copied (wp_page_copy),
// the zero page into a fresh zeroed page.
func doWPPage(f *Fault) vmfault.Reason {
	vma, pte := f.VMA, f.orig
	m := vma.MM()
	if pte.Has(pgtable.UffdWP) && vma.Flags&mm.VMUffdWP != 0 {
		f.tr.Step("do_wp_page", "write-protected by userfaultfd")
		return handleUserfault(f, mm.VMUffdWP) // userfaultfd_pte_wp
	}
	if vma.Shared() {
		f.tr.Step("do_wp_page", "the first write to a shared page: wp_page_shared")
		return wpPageShared(f, pte)
	}
	var old *phys.Page
	if !pte.Has(pgtable.Special) {
		old = m.Phys().Lookup(pte.PFN())
	}
	if old != nil && old.Has(phys.FlagAnon) &&
		(old.Has(phys.FlagAnonExclusive) || old.Refs() == 1 && old.MapCount() == 1) {
		old.SetFlags(phys.FlagAnonExclusive) // wp_can_reuse_anon_folio
		f.tr.Step("do_wp_page", "an exclusive anonymous page: reused in place (wp_page_reuse)")
		return f.reuse(pte)
	}
	if f.tr.On() {
		what := "a shared or read-only page"
		if old == nil {
			what = "the zero page"
		}
		f.tr.Step("do_wp_page", "copy on write of "+what+" (wp_page_copy)")
	}
	return wpPageCopy(f, old)
}

// wpPageShared handles the first write to a write-protected page of a
// shared mapping (wp_page_shared): the backing's ->page_mkwrite hears of it,
// the entry becomes writable, and a page that was clean is throttled.
func wpPageShared(f *Fault, pte pgtable.PTE) vmfault.Reason {
	dirtied := false
	if mk, ok := f.VMA.Ops.(mkwriter); ok && !pte.Has(pgtable.Special) {
		if p := f.VMA.MM().Phys().Lookup(pte.PFN()); p != nil {
			dirtied = mk.PageMkwrite(p)
		}
	}
	if ret := f.reuse(pte); ret != 0 {
		return ret
	}
	return f.faultDirtySharedPage(dirtied)
}

// reuse makes the entry writable in place (wp_page_reuse).
func (f *Fault) reuse(pte pgtable.PTE) vmfault.Reason {
	f.table.Lock()
	f.installLocked(pte | pgtable.Write | pgtable.Dirty | pgtable.Accessed)
	f.table.Unlock()
	return 0
}

// wpPageCopy replaces the entry by a private copy of old (nil: the zero
// page) (wp_page_copy).
func wpPageCopy(f *Fault, old *phys.Page) vmfault.Reason {
	m := f.VMA.MM()
	if ret := f.anonPrepare(); ret != 0 {
		return ret
	}
	page := allocPage(f.Task, m.Phys(), phys.FlagAnon)
	if page == nil {
		return vmfault.OOM
	}
	if old != nil {
		page.CopyFrom(old)
	}
	pte := pgtable.MkPTE(page.PFN(), f.VMA.PageProt) | pgtable.Write | pgtable.Dirty | pgtable.Accessed
	page.AddNewMap() // before the entry makes the page visible
	f.table.Lock()
	if !f.installLocked(pte) {
		f.table.Unlock()
		page.DropNewMap()
		page.Put()
		return 0
	}
	f.table.Unlock()
	if old != nil {
		old.RemoveMap()
		old.Put()
	}
	return 0
}

// doNUMAPage restores access to a ProtNone entry of an accessible VMA
// (do_numa_page, where NUMA balancing made it inaccessible).
func doNUMAPage(f *Fault) vmfault.Reason {
	pte := (f.orig&^pgtable.ProtNone | pgtable.Present).WithPerm(f.VMA.PageProt)
	f.table.Lock()
	f.installLocked(pte)
	f.table.Unlock()
	return 0
}

// doSwapPage handles a non-present, non-empty entry (do_swap_page): PTE
// markers, and swap entries. A page not in the swap cache is read back (a
// major fault), and on a first attempt the fault lock is dropped while the
// read completes, the fault ending with VM_FAULT_RETRY; the retry finds
// the page in the swap cache and maps it, writable at once for a write
// when no other entry refers to the slot, else through do_wp_page.
func doSwapPage(f *Fault) vmfault.Reason {
	if f.orig.IsMarker() {
		return handlePTEMarker(f)
	}
	m := f.VMA.MM()
	dev := m.Phys().Swap()
	if !f.orig.IsSwap() || dev == nil {
		f.tr.Step("do_swap_page", "an entry nothing can interpret: VM_FAULT_SIGBUS")
		return vmfault.SigBus // an entry nothing can interpret
	}
	slot := f.orig.SwapOffset()
	var ret vmfault.Reason
	for {
		c := dev.Lookup(slot)
		if c == nil {
			page := allocPage(f.Task, m.Phys(), phys.FlagAnon)
			if page == nil {
				return vmfault.OOM
			}
			var fresh bool
			if c, fresh = dev.ReadIn(slot, page); !fresh {
				page.Put()
			} else {
				f.tr.Step("do_swap_page", "not in the swap cache: read the page back (a major fault)")
				ret |= vmfault.Major
			}
		}
		if !dev.Locked(c) {
			f.tr.Step("do_swap_page", "the page is in the swap cache: mapped")
			return ret | swapMap(f, dev, c)
		}
		if r, done := f.waitPage(c.Unlock, dev); done {
			return ret | r
		}
	}
}

// swapMap maps the swap-cache page c at the faulting entry and drops the
// entry's reference on the slot.
func swapMap(f *Fault, dev *phys.SwapDevice, c *phys.SwapCached) vmfault.Reason {
	slot, page := f.orig.SwapOffset(), c.Page
	exclusive := dev.Count(slot) == 1
	if exclusive {
		page.SetFlags(phys.FlagAnonExclusive)
	} else {
		page.ClearFlags(phys.FlagAnonExclusive)
	}
	pte := pgtable.MkPTE(page.PFN(), f.VMA.PageProt) | pgtable.Accessed
	if f.orig.Has(pgtable.UffdWP) {
		pte |= pgtable.UffdWP // pte_swp_uffd_wp: still write-protected
	} else if exclusive && f.write() && f.VMA.Flags&mm.VMWrite != 0 {
		pte |= pgtable.Write | pgtable.Dirty
	}
	f.table.Lock()
	if !f.installLocked(pte) {
		f.table.Unlock()
		return 0 // raced: another fault got there first
	}
	page.Get()
	page.AddMap()
	f.table.Unlock()
	dev.Free(slot)
	if f.write() && !pte.Has(pgtable.Write) {
		f.orig = pte
		if ret := doWPPage(f); ret&vmfault.Error != 0 {
			return ret & vmfault.Error
		}
	}
	return 0
}

// handlePTEMarker resolves a PTE marker (handle_pte_marker): poison is
// VM_FAULT_HWPOISON before anything else; a guard region is SIGSEGV. A
// uffd-wp marker of a VMA registered for write-protect faults is faulted
// in as missing, the page mapped write-protected for userfaultfd
// (pte_marker_handle_uffd_wp); on a VMA no longer registered it is
// dropped and the entry faulted in as missing.
func handlePTEMarker(f *Fault) vmfault.Reason {
	mk := f.orig.Marker()
	switch {
	case mk&pgtable.MarkerPoisoned != 0:
		f.tr.Step("handle_pte_marker", "a poison marker: VM_FAULT_HWPOISON")
		return vmfault.HWPoison
	case mk&pgtable.MarkerGuard != 0:
		f.tr.Step("handle_pte_marker", "a guard marker: VM_FAULT_SIGSEGV")
		return vmfault.SigSegv
	case mk&pgtable.MarkerUffdWP != 0 && f.VMA.Flags&mm.VMUffdWP != 0:
		f.tr.Step("handle_pte_marker", "a uffd-wp marker: faulted in as missing, kept write-protected")
		f.uffdWP = true
		return doPTEMissing(f)
	case mk&pgtable.MarkerUffdWP != 0:
		f.tr.Step("handle_pte_marker", "a stale uffd-wp marker: dropped, faulted in as missing")
		f.table.Lock()
		if f.installLocked(0) {
			f.orig = 0
		}
		f.table.Unlock()
		return doPTEMissing(f)
	}
	return vmfault.SigBus
}
