package memory

import (
	"errors"
	"sync"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/vmfault"
)

// hugeOrder is the order of a 2 MiB page in 4 KiB frames.
const hugeOrder = 9

// HugePool is the pool of 2 MiB huge pages (hstates[0]: vm.nr_hugepages).
// Pages are taken from it at fault time; a mapping made without
// MAP_NORESERVE reserves its pages at mmap, so that its faults cannot fail.
type HugePool struct {
	alloc *phys.Allocator

	mu    sync.Mutex // guards everything below (hugetlb_lock)
	free  []*phys.Page
	total int // pages in the pool, free or in use
	resv  int // pages promised to mappings, not yet faulted in
}

// NewHugePool returns an empty pool.
func NewHugePool(alloc *phys.Allocator) *HugePool { return &HugePool{alloc: alloc} }

var errNoHugePage = errors.New("no huge page")

// Resize makes the pool n pages (nr_hugepages), but never fewer than are
// in use; it reports how many pages it holds.
func (p *HugePool) Resize(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	inUse := p.total - len(p.free)
	for p.total < n {
		page, err := p.alloc.AllocCompound(hugeOrder, 0)
		if err != nil {
			break
		}
		page.SetRelease(p.put)
		p.free = append(p.free, page)
		p.total++
	}
	for p.total > n && p.total > inUse && len(p.free) > p.resv {
		page := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		p.total--
		page.SetRelease(nil)
		page.Put()
	}
	return p.total
}

// Free returns the number of free pages (HugePages_Free).
func (p *HugePool) Free() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free)
}

// reserve sets n pages aside (hugetlb_reserve_pages); false when the pool
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

// unreserve gives back n reserved pages.
func (p *HugePool) unreserve(n int) {
	p.mu.Lock()
	p.resv -= n
	p.mu.Unlock()
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
	for i := 0; i < 1<<hugeOrder; i++ {
		clear(page.Sub(i).Data()[:])
	}
	return page, nil
}

// put takes a page back when its last reference goes (free_huge_folio);
// the pool holds it by a reference of its own again.
func (p *HugePool) put(page *phys.Page) {
	if page.Has(phys.FlagHWPoison) {
		p.mu.Lock()
		p.total-- // a poisoned page leaves the pool
		p.mu.Unlock()
		p.alloc.Retire(page)
		return
	}
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
// (HPAGE_RESV_OWNER). A fork child's copy owns nothing.
type HugetlbPrivate struct {
	pool   *HugePool
	family *hugeFamily

	mu       sync.Mutex
	owner    bool
	resv     int  // pages reserved and not yet faulted in
	unmapped bool // the owner took a page back (HPAGE_RESV_UNMAPPED): faults SIGBUS
	users    int
}

// NewHugetlbPrivate makes the backing of a private mapping of pages huge
// pages, reserving them unless noreserve; it fails with ENOMEM when the pool
// cannot promise them.
func NewHugetlbPrivate(pool *HugePool, pages int, noreserve bool) (*HugetlbPrivate, abi.Errno) {
	h := &HugetlbPrivate{pool: pool, owner: true, family: &hugeFamily{vmas: map[*mm.VMA]*HugetlbPrivate{}}}
	if !noreserve {
		if !pool.reserve(pages) {
			return nil, abi.ENOMEM
		}
		h.resv = pages
	}
	return h, 0
}

// Name implements mm.VMOperations.
func (h *HugetlbPrivate) Name() string { return "hugetlb" }

// Open implements mm.VMOperations.
func (h *HugetlbPrivate) Open(v *mm.VMA) {
	h.mu.Lock()
	h.users++
	h.mu.Unlock()
	h.family.mu.Lock()
	h.family.vmas[v] = h
	h.family.mu.Unlock()
}

// Close implements mm.VMOperations: the last VMA gives the unused
// reservation back.
func (h *HugetlbPrivate) Close(v *mm.VMA) {
	h.family.mu.Lock()
	delete(h.family.vmas, v)
	h.family.mu.Unlock()
	h.mu.Lock()
	h.users--
	var back int
	if h.users == 0 {
		back, h.resv = h.resv, 0
	}
	h.mu.Unlock()
	if back > 0 {
		h.pool.unreserve(back)
	}
}

// Abandon gives the reservation back when the mapping was never made.
func (h *HugetlbPrivate) Abandon() { h.Close(nil) }

// ForkOps implements mm.Forker: a fork child's VMA shares the pages, not
// the reservation (hugetlb_dup_vma_private).
func (h *HugetlbPrivate) ForkOps() mm.VMOperations {
	return &HugetlbPrivate{pool: h.pool, family: h.family}
}

// takeReserved consumes one reserved page if the mapping has one.
func (h *HugetlbPrivate) takeReserved() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.owner && h.resv > 0 {
		h.resv--
		return true
	}
	return false
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

// NewHugetlbShared makes an object of pages huge pages, reserving them
// unless noreserve (ENOMEM when the pool cannot).
func NewHugetlbShared(pool *HugePool, pages int, noreserve bool) (*HugetlbShared, abi.Errno) {
	o := &HugetlbShared{pool: pool, pages: uint64(pages), cache: map[uint64]*phys.Page{}}
	if !noreserve {
		if !pool.reserve(pages) {
			return nil, abi.ENOMEM
		}
		o.resv = pages
	}
	return o, 0
}

// Name implements mm.VMOperations.
func (o *HugetlbShared) Name() string { return "hugetlbfs" }

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

// Abandon gives the reservation back when the mapping was never made.
func (o *HugetlbShared) Abandon() { o.Close(nil) }

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
func hugetlbFault(vma *mm.VMA, addr uint64, flags vmfault.Flags, t Faulter) vmfault.Reason {
	haddr := addr &^ (hugePageSize - 1)
	table, i := vma.MM().PT.AllocHuge(haddr)
	f := Fault{
		VMA: vma, Address: haddr, RealAddress: addr, PgOff: vma.PageOffset(haddr),
		Flags: flags, Task: t, table: table, index: i, orig: table.Load(i),
	}
	pte := f.orig
	switch {
	case pte.IsMarker() && pte.Marker()&pgtable.MarkerPoisoned != 0:
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
		idx := f.PgOff >> hugeOrder
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
			return vmfault.SigBus
		}
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
			return vmfault.SigBus // the owner took the page back
		}
		if vma.Flags&mm.VMUffdMiss != 0 {
			return handleUserfault(f, mm.VMUffdMiss)
		}
		page, err := b.pool.get(b.takeReserved())
		if err != nil {
			return vmfault.SigBus // vmf_error(-ENOSPC)
		}
		page.SetFlags(phys.FlagAnon)
		// A private page is mapped read-only on a read fault, writable at
		// once on a write (the COW done without a second fault).
		prot := vma.PageProt
		if f.write() && vma.Flags&mm.VMWrite != 0 {
			prot |= pgtable.Write | pgtable.Dirty
		}
		return f.installHuge(page, prot, false)
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
	for i := 0; i < 1<<hugeOrder; i++ {
		*page.Sub(i).Data() = *old.Sub(i).Data()
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
	if mode == FillZeropage || (addr|end)&(hugePageSize-1) != 0 {
		return 0, abi.EINVAL
	}
	var done uint64
	for ; addr < end; addr += hugePageSize {
		if err := hugetlbFillPage(t, v, addr, mode, fill); err != 0 {
			return done, err
		}
		done += hugePageSize
	}
	return done, 0
}

// hugetlbFillPage fills the huge page at addr (hugetlb_mfill_atomic_pte).
func hugetlbFillPage(t Faulter, v *mm.VMA, addr uint64, mode FillMode, fill byte) abi.Errno {
	table, i := v.MM().PT.AllocHuge(addr)
	old := table.Load(i)
	if mode != FillContinue && !noneMostly(old) {
		return abi.EEXIST
	}
	var page *phys.Page
	var pte pgtable.PTE
	switch mode {
	case FillPoison:
		pte = HugeMarker(pgtable.MarkerPoisoned)
	case FillContinue:
		o, ok := v.Ops.(*HugetlbShared)
		if !ok {
			return abi.EINVAL
		}
		if page = o.cached(v.PageOffset(addr) >> hugeOrder); page == nil {
			return abi.EFAULT
		}
		page.Get()
		pte = hugeEntry(page, v.PageProt)
	case FillCopy:
		var err error
		switch b := v.Ops.(type) {
		case *HugetlbShared:
			var fresh bool
			if page, fresh, err = b.page(v.PageOffset(addr) >> hugeOrder); err == nil && !fresh {
				page.Put()
				return abi.EEXIST
			}
		case *HugetlbPrivate:
			if page, err = b.pool.get(b.takeReserved()); err == nil {
				page.SetFlags(phys.FlagAnon)
			}
		}
		if page == nil || err != nil {
			// The pool is empty. The kernel then looks for the huge
			// entry, which its caller has just allocated, and reports
			// EEXIST when it finds it: always, for a 2 MiB page.
			return abi.EEXIST
		}
		for j := 0; j < 1<<hugeOrder; j++ {
			data := page.Sub(j).Data()
			for k := range data {
				data[k] = fill
			}
		}
		pte = hugeEntry(page, v.PageProt) | pgtable.Dirty
		if v.Flags&mm.VMWrite != 0 {
			pte |= pgtable.Write
		}
	}
	table.Lock()
	if table.Load(i) != old || !noneMostly(old) {
		table.Unlock()
		if page != nil {
			page.Put()
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
