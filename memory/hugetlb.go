package memory

import (
	"errors"
	"fmt"
	"sync"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/trace"
	"github.com/faultline/faultline/vmfault"
)

// pmdOrder is the order of a PMD-sized huge page in frames of
// 1<<pageShift bytes: a page table's entries, PAGE_SHIFT-3 bits (2 MiB of
// 4 KiB frames, 32 MiB of 16 KiB, 512 MiB of 64 KiB: HPAGE_SHIFT is
// PMD_SHIFT on every arch the model has).
func pmdOrder(pageShift uint) int { return int(pageShift) - 3 }

// vmaHugeOrder is the order of v's huge pages.
func vmaHugeOrder(v *mm.VMA) int { return pmdOrder(v.MM().PageShift()) }

// HugePool is the pool of PMD-sized huge pages (2 MiB over 4 KiB pages;
// hstates[0]: vm.nr_hugepages).
// Pages are taken from it at fault time; a mapping made without
// MAP_NORESERVE reserves its pages at mmap, so that its faults cannot fail.
// Shrinking the pool below the pages in use or reserved leaves the excess
// as surplus pages, which go back to the page allocator when freed.
type HugePool struct {
	alloc *phys.Allocator

	mu      sync.Mutex // guards everything below (hugetlb_lock)
	free    []*phys.Page
	total   int // pages in the pool, free or in use (nr_huge_pages)
	resv    int // pages promised to mappings, not yet faulted in
	surplus int // pages beyond nr_hugepages, freed rather than kept
	// restore holds the frames whose reservation comes back when they
	// are freed (HPageRestoreReserve).
	restore map[phys.PFN]bool
}

// NewHugePool returns an empty pool.
func NewHugePool(alloc *phys.Allocator) *HugePool {
	return &HugePool{alloc: alloc, restore: map[phys.PFN]bool{}}
}

var errNoHugePage = errors.New("no huge page")

// Resize makes the pool n persistent pages (set_max_huge_pages) and
// reports how many it holds. Growing first turns surplus pages back into
// persistent ones; shrinking frees only pages neither in use nor
// reserved, and counts the rest beyond n as surplus.
func (p *HugePool) Resize(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.surplus > 0 && p.total-p.surplus < n {
		p.surplus--
	}
	for p.total-p.surplus < n {
		page, err := p.alloc.AllocCompound(pmdOrder(p.alloc.PageShift()), 0)
		if err != nil {
			break
		}
		page.SetRelease(p.put)
		p.free = append(p.free, page)
		p.total++
	}
	minCount := max(n, p.resv+p.total-len(p.free))
	for minCount < p.total-p.surplus && len(p.free) > 0 {
		p.dropFreeLocked()
	}
	for n < p.total-p.surplus && p.surplus < p.total {
		p.surplus++ // adjust_pool_surplus
	}
	return p.total - p.surplus
}

// dropFreeLocked gives a free page back to the page allocator
// (remove_pool_hugetlb_folio, update_and_free_hugetlb_folio).
// Preconditions: p.mu is held; a page is free.
func (p *HugePool) dropFreeLocked() {
	page := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	p.total--
	page.SetRelease(nil)
	page.Put()
}

// Free returns the number of free pages (HugePages_Free).
func (p *HugePool) Free() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free)
}

// Surplus returns the number of surplus pages (HugePages_Surp).
func (p *HugePool) Surplus() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.surplus
}

// Reserved returns the number of reserved pages (HugePages_Rsvd).
func (p *HugePool) Reserved() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resv
}

// reserve sets n pages aside (hugetlb_acct_memory); false when the pool
// cannot promise them.
func (p *HugePool) reserve(n int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free)-p.resv < n {
		return false
	}
	p.resv += n
	return true
}

// unreserve gives back n reserved pages; as many free surplus pages go
// back to the page allocator (return_unused_surplus_pages).
func (p *HugePool) unreserve(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resv -= n
	for k := min(n, p.surplus); k > 0 && len(p.free) > 0; k-- {
		p.dropFreeLocked()
		p.surplus--
	}
}

// get takes a zeroed page from the pool (alloc_hugetlb_folio): from the
// caller's reservation when it has one, else only from pages nobody
// reserved. The pool's reference on a free page passes to the caller.
func (p *HugePool) get(reserved bool) (*phys.Page, error) {
	p.mu.Lock()
	if len(p.free) == 0 || !reserved && len(p.free)-p.resv <= 0 {
		p.mu.Unlock()
		return nil, errNoHugePage
	}
	if reserved {
		p.resv--
	}
	page := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	p.mu.Unlock()
	for i := 0; i < 1<<page.Order(); i++ {
		page.Sub(i).Fill(0)
	}
	return page, nil
}

// restoreOnFree marks page so that freeing it gives a reservation back to
// the pool (folio_set_hugetlb_restore_reserve); it refuses while the pool
// has surplus pages, as __unmap_hugepage_range does.
func (p *HugePool) restoreOnFree(page *phys.Page) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.surplus > 0 {
		return false
	}
	p.restore[page.PFN()] = true
	return true
}

// markRestore marks page so that freeing it gives a reservation back.
func (p *HugePool) markRestore(page *phys.Page) {
	p.mu.Lock()
	p.restore[page.PFN()] = true
	p.mu.Unlock()
}

// put takes a page back when its last reference goes (free_huge_folio):
// a reservation marked on it comes back; a surplus page or a poisoned one
// leaves the pool; any other is free again, held by a reference of the
// pool's own.
func (p *HugePool) put(page *phys.Page) {
	p.mu.Lock()
	if p.restore[page.PFN()] {
		delete(p.restore, page.PFN())
		p.resv++
	}
	if page.Has(phys.FlagHWPoison) {
		p.total-- // a poisoned page leaves the pool
		p.mu.Unlock()
		p.alloc.Retire(page)
		return
	}
	if p.surplus > 0 {
		p.surplus--
		p.total--
		p.mu.Unlock()
		page.SetRelease(nil)
		page.Get()
		page.Put() // back to the page allocator
		return
	}
	p.mu.Unlock()
	page.ClearFlags(^phys.PageFlags(0))
	page.Get()
	p.mu.Lock()
	p.free = append(p.free, page)
	p.mu.Unlock()
}

// Release returns every free page to the allocator, at the end of a run.
func (p *HugePool) Release() {
	p.mu.Lock()
	free := p.free
	p.free, p.total, p.resv = nil, p.total-len(free), 0
	p.surplus = min(p.surplus, p.total)
	p.mu.Unlock()
	for _, page := range free {
		page.SetRelease(nil)
		page.Put()
	}
}

// hugeFamily is the set of private hugetlb VMAs sharing pages after fork:
// the reservation owner's and its children's (the hugetlbfs inode's i_mmap).
type hugeFamily struct {
	mu   sync.Mutex
	vmas map[*mm.VMA]*HugetlbPrivate
}

// HugetlbPrivate is the backing of a private hugetlb mapping: its
// reservation (resv_map) and whether this process owns it
// (HPAGE_RESV_OWNER). Only a mapping made without MAP_NORESERVE owns one;
// a fork child's copy owns nothing.
type HugetlbPrivate struct {
	pool   *HugePool
	family *hugeFamily

	mu    sync.Mutex
	owner bool
	// consumed holds the huge page indexes whose reservation a fault has
	// used (the regions of a private resv_map); every other index of an
	// owner's live VMA is reserved.
	consumed map[uint64]bool
	unmapped bool // the owner took a page back (HPAGE_RESV_UNMAPPED): faults SIGBUS
}

// NewHugetlbPrivate makes the backing of a private hugetlb mapping; it
// reserves its pages when it is mapped (PrepareMmap).
func NewHugetlbPrivate(pool *HugePool) *HugetlbPrivate {
	return &HugetlbPrivate{pool: pool, consumed: map[uint64]bool{},
		family: &hugeFamily{vmas: map[*mm.VMA]*HugetlbPrivate{}}}
}

// hugeIndexes returns the huge page indexes [first, end) v covers.
func hugeIndexes(v *mm.VMA) (uint64, uint64) {
	return v.PgOff >> vmaHugeOrder(v), (v.PgOff + v.Pages()) >> vmaHugeOrder(v)
}

// Name implements mm.VMOperations.
func (h *HugetlbPrivate) Name() string { return "hugetlb" }

// PrepareMmap implements mm.MmapPreparer: a mapping made without
// MAP_NORESERVE reserves every page of v and owns the reservation; ENOMEM
// when the pool cannot promise them (hugetlb_reserve_pages).
func (h *HugetlbPrivate) PrepareMmap(v *mm.VMA) abi.Errno {
	if v.Flags&mm.VMNoReserve != 0 {
		return 0
	}
	first, end := hugeIndexes(v)
	if !h.pool.reserve(int(end - first)) {
		return abi.ENOMEM
	}
	h.mu.Lock()
	h.owner = true
	h.mu.Unlock()
	return 0
}

// Open implements mm.VMOperations.
func (h *HugetlbPrivate) Open(v *mm.VMA) {
	h.family.mu.Lock()
	h.family.vmas[v] = h
	h.family.mu.Unlock()
}

// Close implements mm.VMOperations: an owner's VMA gives back the
// reservation of its own range not used by a fault (hugetlb_vm_op_close);
// the other VMAs of the mapping, split off it, keep theirs.
func (h *HugetlbPrivate) Close(v *mm.VMA) {
	h.family.mu.Lock()
	delete(h.family.vmas, v)
	h.family.mu.Unlock()
	h.mu.Lock()
	back := 0
	if h.owner {
		first, end := hugeIndexes(v)
		for idx := first; idx < end; idx++ {
			if !h.consumed[idx] {
				back++
			}
			delete(h.consumed, idx)
		}
	}
	h.mu.Unlock()
	if back > 0 {
		h.pool.unreserve(back)
	}
}

// ForkOps implements mm.Forker: a fork child's VMA shares the pages, not
// the reservation (hugetlb_dup_vma_private).
func (h *HugetlbPrivate) ForkOps() mm.VMOperations {
	return &HugetlbPrivate{pool: h.pool, family: h.family, consumed: map[uint64]bool{}}
}

// hugetlbZapRestoresSince is the first kernel whose __unmap_hugepage_range
// gives an owner's reservation back when it unmaps a page the mapping
// faulted in (folio_set_hugetlb_restore_reserve, adjust_reservation):
// Breno Leitao's "mm/hugetlb: restore the reservation if needed"
// (df7a6d1f6405). Read: 6.12's mm/hugetlb.c has it, 6.1's does not; the
// mailing-list archives show it merged into mm-stable on 25 January 2024,
// after 6.8-rc1, so 6.9 (marked for the stable kernels; 6.1.192 does not
// have it); observed: on arm64 6.1 a MAP_NORESERVE mapping takes the page
// MADV_DONTNEED freed, and the owner's next fault is SIGBUS.
var hugetlbZapRestoresSince = config.Version{Major: 6, Minor: 9}

// ZapPage implements mm.ZapNotifier: when an owner's page goes (munmap,
// MADV_DONTNEED) the reservation it consumed comes back to the mapping,
// and to the pool when the page is freed, so that nobody else can take it
// meanwhile (__unmap_hugepage_range: hugetlb_restore_reserve,
// vma_add_reservation).
func (h *HugetlbPrivate) ZapPage(v *mm.VMA, addr uint64, pte pgtable.PTE) {
	if v.MM().Config().Version.Compare(hugetlbZapRestoresSince) < 0 {
		return // the page is freed, its reservation stays consumed
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	idx := v.PageOffset(addr) >> vmaHugeOrder(v)
	if !h.owner || !h.consumed[idx] {
		return
	}
	page := v.MM().Phys().Lookup(pte.PFN())
	if page == nil || !page.Has(phys.FlagAnon) || !h.pool.restoreOnFree(page) {
		return
	}
	delete(h.consumed, idx)
}

// takeReserved consumes the reservation of huge page idx if the mapping
// has one (vma_needs_reservation, vma_commit_reservation).
func (h *HugetlbPrivate) takeReserved(idx uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.owner && !h.consumed[idx] {
		h.consumed[idx] = true
		return true
	}
	return false
}

// untakeReserved gives back what takeReserved took when no page came of
// it (vma_end_reservation).
func (h *HugetlbPrivate) untakeReserved(idx uint64) {
	h.mu.Lock()
	delete(h.consumed, idx)
	h.mu.Unlock()
}

// getPage takes an anonymous page for huge page idx from the pool, from
// the mapping's reservation when it has one left there, and says which.
func (h *HugetlbPrivate) getPage(idx uint64) (*phys.Page, bool, error) {
	reserved := h.takeReserved(idx)
	page, err := h.pool.get(reserved)
	if err != nil {
		if reserved {
			h.untakeReserved(idx)
		}
		return nil, false, err
	}
	page.SetFlags(phys.FlagAnon)
	return page, reserved, nil
}

// dropPage frees a page getPage returned that was never mapped, giving
// its reservation back (restore_reserve_on_error).
func (h *HugetlbPrivate) dropPage(idx uint64, page *phys.Page, reserved bool) {
	if reserved {
		h.untakeReserved(idx)
		h.pool.markRestore(page)
	}
	page.Put()
}

// HugetlbShared is the hugetlbfs object behind a shared hugetlb mapping:
// its pages, shared by every mapping, and their reservation.
type HugetlbShared struct {
	pool  *HugePool
	pages uint64

	mu    sync.Mutex
	cache map[uint64]*phys.Page
	resv  int
	users int
}

// NewHugetlbShared makes an object of pages huge pages; it reserves them
// when it is mapped (PrepareMmap).
func NewHugetlbShared(pool *HugePool, pages int) *HugetlbShared {
	return &HugetlbShared{pool: pool, pages: uint64(pages), cache: map[uint64]*phys.Page{}}
}

// Name implements mm.VMOperations.
func (o *HugetlbShared) Name() string { return "hugetlbfs" }

// PrepareMmap implements mm.MmapPreparer: without MAP_NORESERVE the
// object's pages are reserved, once, for the file (hugetlb_reserve_pages
// on the inode's resv_map); ENOMEM when the pool cannot promise them.
func (o *HugetlbShared) PrepareMmap(v *mm.VMA) abi.Errno {
	if v.Flags&mm.VMNoReserve != 0 {
		return 0
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.resv > 0 || len(o.cache) > 0 {
		return 0 // reserved by an earlier mapping
	}
	n := int(o.pages)
	if !o.pool.reserve(n) {
		return abi.ENOMEM
	}
	o.resv = n
	return 0
}

// Open implements mm.VMOperations.
func (o *HugetlbShared) Open(*mm.VMA) {
	o.mu.Lock()
	o.users++
	o.mu.Unlock()
}

// Close implements mm.VMOperations: the last user frees the pages and the
// unused reservation.
func (o *HugetlbShared) Close(*mm.VMA) {
	o.mu.Lock()
	o.users--
	var drop []*phys.Page
	var back int
	if o.users <= 0 {
		for k, p := range o.cache {
			drop = append(drop, p)
			delete(o.cache, k)
		}
		back, o.resv = o.resv, 0
	}
	o.mu.Unlock()
	for _, p := range drop {
		p.Put()
	}
	if back > 0 {
		o.pool.unreserve(back)
	}
}

// page returns the object's page at idx with a reference, making it from the
// pool (from the reservation when there is one left).
func (o *HugetlbShared) page(idx uint64) (*phys.Page, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if p := o.cache[idx]; p != nil {
		p.Get()
		return p, false, nil
	}
	reserved := o.resv > 0
	p, err := o.pool.get(reserved)
	if err != nil {
		return nil, false, err
	}
	if reserved {
		o.resv--
	}
	o.cache[idx] = p // the cache keeps the pool's reference
	p.Get()
	return p, true, nil
}

// cached reports whether the object holds page idx.
func (o *HugetlbShared) cached(idx uint64) *phys.Page {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cache[idx]
}

// hugetlbFault resolves a fault in a hugetlb VMA (hugetlb_fault): a 2 MiB
// entry at the PMD level. Poison is VM_FAULT_HWPOISON_LARGE with the
// hstate index; an empty pool is SIGBUS; a uffd-wp marker is an empty
// entry that keeps its protection.
func hugetlbFault(vma *mm.VMA, addr uint64, flags vmfault.Flags, t Faulter, tr *trace.Track) vmfault.Reason {
	haddr := addr &^ (vma.MM().HugePageSize() - 1)
	table, i := vma.MM().PT.AllocHuge(haddr)
	f := Fault{
		VMA: vma, Address: haddr, RealAddress: addr, PgOff: vma.PageOffset(haddr),
		Flags: flags, Task: t, table: table, index: i, orig: table.Load(i), tr: tr,
	}
	pte := f.orig
	if f.tr.On() {
		f.tr.Step("hugetlb_fault", fmt.Sprintf("the 2 MiB page at %#x", haddr))
	}
	switch {
	case pte.IsMarker() && pte.Marker()&pgtable.MarkerPoisoned != 0:
		f.tr.Step("hugetlb_fault", "a poison marker: VM_FAULT_HWPOISON_LARGE")
		return vmfault.HWPoisonLarge | vmfault.SetHIndex(0)
	case isUffdWPMarker(pte):
		// huge_pte_none_mostly: faulted in as missing, the page
		// write-protected for userfaultfd while the VMA is registered
		// for it.
		f.uffdWP = vma.Flags&mm.VMUffdWP != 0
		return hugetlbNoPage(&f)
	case pte.IsMarker():
		return vmfault.SigBus
	case pte.None():
		return hugetlbNoPage(&f)
	case f.write() && !pte.Has(pgtable.Write):
		return hugetlbWP(&f)
	}
	return f.markAccessed()
}

// HugeMarker makes a PTE marker for a 2 MiB slot: marked Huge, so that
// walks and zaps treat the slot as a leaf.
func HugeMarker(m pgtable.Marker) pgtable.PTE { return pgtable.MkMarker(m) | pgtable.Huge }

func hugeEntry(page *phys.Page, prot pgtable.PTE) pgtable.PTE {
	return pgtable.MkPTE(page.PFN(), prot) | pgtable.Huge | pgtable.Accessed
}

// hugetlbNoPage maps a page into an empty entry (hugetlb_no_page).
func hugetlbNoPage(f *Fault) vmfault.Reason {
	vma := f.VMA
	switch b := vma.Ops.(type) {
	case *HugetlbShared:
		idx := f.PgOff >> vmaHugeOrder(f.VMA)
		if idx >= b.pages {
			return vmfault.SigBus
		}
		cached := b.cached(idx)
		switch {
		case cached == nil && vma.Flags&mm.VMUffdMiss != 0:
			return handleUserfault(f, mm.VMUffdMiss)
		case cached != nil && vma.Flags&mm.VMUffdMinor != 0:
			return handleUserfault(f, mm.VMUffdMinor)
		}
		page, _, err := b.page(idx)
		if err != nil {
			f.tr.Step("hugetlb_no_page", "no huge page in the pool: VM_FAULT_SIGBUS")
			return vmfault.SigBus
		}
		f.tr.Step("hugetlb_no_page", "the shared page of the hugetlbfs file")
		if page.Has(phys.FlagHWPoison) {
			page.Put()
			return vmfault.HWPoisonLarge | vmfault.SetHIndex(0)
		}
		return f.installHuge(page, vma.PageProt, f.write())
	case *HugetlbPrivate:
		b.mu.Lock()
		unmapped := b.unmapped
		b.mu.Unlock()
		if unmapped {
			f.tr.Step("hugetlb_no_page", "the owner took the page back: VM_FAULT_SIGBUS")
			return vmfault.SigBus // the owner took the page back
		}
		if vma.Flags&mm.VMUffdMiss != 0 {
			return handleUserfault(f, mm.VMUffdMiss)
		}
		idx := f.PgOff >> vmaHugeOrder(f.VMA)
		if ret := f.anonPrepare(); ret != 0 {
			return ret // __vmf_anon_prepare; hugetlb_fault drops the VMA lock
		}
		page, reserved, err := b.getPage(idx)
		if err != nil {
			f.tr.Step("hugetlb_no_page", "no huge page in the pool: VM_FAULT_SIGBUS")
			return vmfault.SigBus // vmf_error(-ENOSPC)
		}
		if f.tr.On() {
			what := "an unreserved"
			if reserved {
				what = "a reserved"
			}
			f.tr.Step("hugetlb_no_page", what+" page from the pool, mapped privately")
		}
		// A private page is mapped read-only on a read fault, writable at
		// once on a write (the COW done without a second fault).
		prot := vma.PageProt
		if f.write() && vma.Flags&mm.VMWrite != 0 {
			prot |= pgtable.Write | pgtable.Dirty
		}
		f.table.Lock()
		if !f.installLocked(hugeEntry(page, prot)) {
			f.table.Unlock()
			b.dropPage(idx, page, reserved) // another fault mapped it first
			return 0
		}
		page.AddMap()
		f.table.Unlock()
		return 0
	}
	return vmfault.SigBus
}

// installHuge maps page, whose reference the fault owns, at the entry.
func (f *Fault) installHuge(page *phys.Page, prot pgtable.PTE, dirty bool) vmfault.Reason {
	pte := hugeEntry(page, prot)
	if dirty {
		pte |= pgtable.Dirty
	}
	return f.installEntry(page, pte)
}

// hugetlbWP handles a write to a write-protected huge entry (hugetlb_wp):
// shared pages become writable; a private page nobody else maps is
// reused; otherwise it is copied, and when the pool is empty the
// reservation owner takes the page back from its children (which then
// get SIGBUS) while anyone else gets SIGBUS.
func hugetlbWP(f *Fault) vmfault.Reason {
	vma, pte := f.VMA, f.orig
	if pte.Has(pgtable.UffdWP) && vma.Flags&mm.VMUffdWP != 0 {
		return handleUserfault(f, mm.VMUffdWP)
	}
	if vma.Shared() {
		return f.reuse(pte)
	}
	priv, _ := vma.Ops.(*HugetlbPrivate)
	old := vma.MM().Phys().Lookup(pte.PFN())
	if old == nil || priv == nil {
		return vmfault.SigBus
	}
	if old.Refs() == 1 && old.MapCount() == 1 {
		return f.reuse(pte)
	}
	page, err := priv.pool.get(false)
	if err != nil {
		if !priv.owner {
			return vmfault.SigBus
		}
		unmapRefPrivate(f, priv, old)
		if old.Refs() == 1 && old.MapCount() == 1 {
			return f.reuse(pte)
		}
		return vmfault.SigBus
	}
	page.SetFlags(phys.FlagAnon)
	if ret := f.anonPrepare(); ret != 0 {
		page.Put()
		return ret
	}
	for i := 0; i < 1<<page.Order(); i++ {
		page.Sub(i).CopyFrom(old.Sub(i))
	}
	f.table.Lock()
	if !f.installLocked(hugeEntry(page, vma.PageProt) | pgtable.Write | pgtable.Dirty) {
		f.table.Unlock()
		page.Put()
		return 0
	}
	page.AddMap()
	f.table.Unlock()
	old.RemoveMap()
	old.Put()
	return 0
}

// unmapRefPrivate takes page back from the other mappings of the family
// (the owner's children), marking them so that their next fault there is
// SIGBUS (unmap_ref_private).
func unmapRefPrivate(f *Fault, owner *HugetlbPrivate, page *phys.Page) {
	owner.family.mu.Lock()
	var others []*mm.VMA
	for v, h := range owner.family.vmas {
		if h != owner {
			others = append(others, v)
		}
	}
	owner.family.mu.Unlock()
	for _, v := range others {
		h := v.Ops.(*HugetlbPrivate)
		h.mu.Lock()
		h.unmapped = true
		h.mu.Unlock()
		if t, i := v.MM().PT.Lookup(f.Address); t != nil && t.Level() == 2 {
			t.Lock()
			pte := t.Load(i)
			if pte.Mapped() && pte.PFN() == page.PFN() {
				t.Store(i, 0)
				t.Unlock()
				page.RemoveMap()
				page.Put()
				continue
			}
			t.Unlock()
		}
	}
}

// hugetlbFill fills [addr, end) of a hugetlb VMA, whole huge pages only
// (mfill_atomic_hugetlb): ZEROPAGE is EINVAL (there is no huge zero page),
// and so is a range not made of whole huge pages. It returns the bytes
// filled and the error that stopped it.
func hugetlbFill(t Faulter, v *mm.VMA, addr, end uint64, mode FillMode, fill byte) (uint64, abi.Errno) {
	if mode == FillZeropage || (addr|end)&(v.MM().HugePageSize()-1) != 0 {
		return 0, abi.EINVAL
	}
	var done uint64
	for ; addr < end; addr += v.MM().HugePageSize() {
		if err := hugetlbFillPage(t, v, addr, mode, fill); err != 0 {
			return done, err
		}
		done += v.MM().HugePageSize()
	}
	return done, 0
}

// hugetlbCopyEmptyEEXISTSince is the first kernel (estimated) whose
// UFFDIO_COPY into hugetlb memory answers EEXIST, not ENOMEM, when no huge
// page can be allocated. Read: 6.12's hugetlb_mfill_atomic_pte returns
// -ENOMEM when alloc_hugetlb_folio fails; observed: arm64 6.1 and 6.12,
// riscv64 6.12 ENOMEM, the x86_64 6.18 host and arm64/riscv64 7.2 EEXIST.
// The commit was not found (a search of the mailing-list archives found
// only a September 2025 debugging patch that returns -EEXIST when
// hugetlb_walk finds the entry); the change lies in 6.13-6.18, placed at
// the first of them.
var hugetlbCopyEmptyEEXISTSince = config.Version{Major: 6, Minor: 13}

// emptyHugeWalker is an Arch whose huge_pte_offset, as the empty-pool
// path of hugetlbFillPage walks with it, does not find an empty huge
// entry its caller allocated, so that the path answers ENOMEM at every
// version: observed on Debian's ppc64el 7.2 kernel (ENOMEM where x86_64,
// arm64 and riscv64 say EEXIST); ppc64 has a huge_pte_offset of its own,
// the likely cause, not confirmed in its source.
type emptyHugeWalker interface{ HugeWalkMissesEmpty() bool }

// hugeWalkMissesEmpty reports whether a's hugetlb walk misses an empty
// huge entry (emptyHugeWalker).
func hugeWalkMissesEmpty(a mm.Arch) bool {
	w, ok := a.(emptyHugeWalker)
	return ok && w.HugeWalkMissesEmpty()
}

// hugetlbFillPage fills the huge page at addr (hugetlb_mfill_atomic_pte).
func hugetlbFillPage(t Faulter, v *mm.VMA, addr uint64, mode FillMode, fill byte) abi.Errno {
	table, i := v.MM().PT.AllocHuge(addr)
	ver := v.MM().Config().Version
	old := table.Load(i)
	if mode != FillContinue && !noneMostly(ver, old) {
		return abi.EEXIST
	}
	var page *phys.Page
	var pte pgtable.PTE
	drop := func() { page.Put() } // frees a page left unmapped
	switch mode {
	case FillPoison:
		pte = HugeMarker(pgtable.MarkerPoisoned)
	case FillContinue:
		o, ok := v.Ops.(*HugetlbShared)
		if !ok {
			return abi.EINVAL
		}
		if page = o.cached(v.PageOffset(addr) >> vmaHugeOrder(v)); page == nil {
			return abi.EFAULT
		}
		page.Get()
		pte = hugeEntry(page, v.PageProt)
	case FillCopy:
		var err error
		switch b := v.Ops.(type) {
		case *HugetlbShared:
			var fresh bool
			if page, fresh, err = b.page(v.PageOffset(addr) >> vmaHugeOrder(v)); err == nil && !fresh {
				page.Put()
				return abi.EEXIST
			}
		case *HugetlbPrivate:
			idx := v.PageOffset(addr) >> vmaHugeOrder(v)
			var reserved bool
			if page, reserved, err = b.getPage(idx); err == nil {
				drop = func() { b.dropPage(idx, page, reserved) }
			}
		}
		if page == nil || err != nil {
			// The pool is empty. The kernel then looks for the huge
			// entry, which its caller has just allocated, and reports
			// EEXIST when it finds it: always, for a 2 MiB page; before
			// hugetlbCopyEmptyEEXISTSince, ENOMEM.
			if v.MM().Config().Version.Compare(hugetlbCopyEmptyEEXISTSince) < 0 || hugeWalkMissesEmpty(v.MM().Arch()) {
				return abi.ENOMEM
			}
			return abi.EEXIST
		}
		for j := 0; j < 1<<page.Order(); j++ {
			page.Sub(j).Fill(fill)
		}
		pte = hugeEntry(page, v.PageProt) | pgtable.Dirty
		if v.Flags&mm.VMWrite != 0 {
			pte |= pgtable.Write
		}
	}
	table.Lock()
	if table.Load(i) != old || !noneMostly(ver, old) {
		table.Unlock()
		if page != nil {
			drop()
		}
		return abi.EEXIST
	}
	table.Store(i, pte)
	if page != nil {
		page.AddMap()
	}
	table.Unlock()
	return 0
}
