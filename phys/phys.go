// Package phys models physical memory: 4 KiB page frames with real
// contents, the shared zero page, and a page allocator that accounts for
// every frame it hands out.
//
// A Page is what the kernel calls a struct page (an order-0 folio): it has
// a reference count (mappings, page-cache entries and transient users each
// hold one) and a map count (the page-table entries that map it). A frame
// returns to the allocator when its last reference is put.
package phys

import (
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Page geometry.
const (
	PageShift = 12
	PageSize  = 1 << PageShift
	PageMask  = ^uint64(PageSize - 1)
)

// PFN is a page frame number.
type PFN uint64

// PageFlags are per-frame flags.
type PageFlags uint32

// Page flags.
const (
	FlagAnon          PageFlags = 1 << iota // anonymous memory (PageAnon)
	FlagZero                                // the shared zero page; never freed, never written
	FlagHWPoison                            // the frame is poisoned (PageHWPoison)
	FlagDirty                               // the contents differ from the backing store
	FlagShmem                               // in a shmem (shared anonymous) object's cache
	FlagReserved                            // a kernel-image frame outside any allocator; never freed
	FlagAnonExclusive                       // an anonymous page only one mapping may use (PageAnonExclusive)
)

// Page is one physical page frame.
type Page struct {
	pfn   PFN
	alloc *Allocator
	// data is the frame's contents, made on first write: a frame nobody
	// wrote (a free huge page in the pool) costs no memory, and one filled
	// with a single byte shares a read-only page of it (Fill). A freed
	// frame's contents go to contentPool, for the next frame written.
	data atomic.Pointer[[PageSize]byte]

	refs     atomic.Int32 // references (page_ref_count)
	mapcount atomic.Int32 // page-table entries mapping the frame (page_mapcount)
	flags    atomic.Uint32

	// A compound page (a hugetlb folio) is order contiguous frames; the
	// counts and flags that matter live in the head.
	head  *Page // the head of the compound page this frame belongs to, or itself
	order uint8 // head only: the page is 1<<order frames
	// release, when set, takes the page back when its last reference goes
	// instead of the allocator (a hugetlb pool). Head only; set before the
	// page is shared.
	release func(*Page)
	memcg   atomic.Pointer[MemCG] // the group the page is charged to
}

// Head returns the head page of p's compound page (p itself if not compound).
func (p *Page) Head() *Page {
	if p.head == nil {
		return p
	}
	return p.head
}

// Order returns log2 of the number of frames of a head page.
func (p *Page) Order() int { return int(p.order) }

// Sub returns the i-th frame of the compound page headed by p.
func (p *Page) Sub(i int) *Page { return p.alloc.Lookup(p.pfn + PFN(i)) }

// SetRelease makes fn take the page back when its last reference goes.
func (p *Page) SetRelease(fn func(*Page)) { p.release = fn }

// PFN returns the frame number.
func (p *Page) PFN() PFN { return p.pfn }

// Data returns the frame's contents, to read or write. Writing the zero
// page is a bug. A frame that shared its contents (Fill) gets a copy of
// its own first.
func (p *Page) Data() *[PageSize]byte {
	for {
		d := p.data.Load()
		if d != nil && !shared(d) {
			return d
		}
		n := contentPool.Get().(*[PageSize]byte)
		if d != nil {
			*n = *d
		} else {
			clear(n[:])
		}
		if p.data.CompareAndSwap(d, n) {
			return n
		}
		contentPool.Put(n)
	}
}

// contentPool holds the contents of freed frames, of every allocator,
// for the next frame written: a run that faults megabytes reuses memory
// the process has, rather than asking the heap (and the garbage
// collector) for 4 KiB a page, run after run.
var contentPool = sync.Pool{New: func() any { return new([PageSize]byte) }}

// Contents returns the frame's contents to read, never to write: a
// frame not written since it was made or filled makes no copy of its own.
func (p *Page) Contents() *[PageSize]byte {
	if d := p.data.Load(); d != nil {
		return d
	}
	return uniformOf(0)
}

// Fill sets every byte of the frame to v. A frame with no contents of
// its own yet shares those of every frame filled with v, until written:
// a page cache of a file's fill, a cleared huge page, a copy of either,
// costs no 4 KiB a page (the model's, not the kernel's, economy).
func (p *Page) Fill(v byte) {
	d := p.data.Load()
	if d == nil || shared(d) {
		if v == 0 {
			p.data.Store(nil)
		} else {
			p.data.Store(uniformOf(v))
		}
		return
	}
	d[0] = v
	for i := 1; i < PageSize; i *= 2 {
		copy(d[i:], d[:i])
	}
}

// Uniform reports whether every byte of the frame is known to be one
// value without looking at them (a frame made or filled and not written
// since), and which.
func (p *Page) Uniform() (byte, bool) {
	d := p.data.Load()
	switch {
	case d == nil:
		return 0, true
	case shared(d):
		return d[0], true // a shared page is never written
	}
	return 0, false
}

// CopyFrom sets the frame's contents to src's (copy_user_highpage),
// sharing them where src shares its own.
func (p *Page) CopyFrom(src *Page) {
	if v, ok := src.Uniform(); ok {
		p.Fill(v)
		return
	}
	*p.Data() = *src.Contents()
}

// uniformPages[v] is a page of bytes v, which every frame filled with v
// and not written since shares (read only); uniformReady[v] says it is
// filled. A frame's contents are shared exactly when they lie in this
// array: a test of their address, never of their bytes, which their
// writers may be changing.
var (
	uniformMu    sync.Mutex // serializes the filling of uniformPages
	uniformReady [256]atomic.Bool
	uniformPages [256][PageSize]byte
)

// uniformOf returns the shared page of bytes v.
func uniformOf(v byte) *[PageSize]byte {
	d := &uniformPages[v]
	if v != 0 && !uniformReady[v].Load() {
		uniformMu.Lock()
		if !uniformReady[v].Load() {
			for i := range d {
				d[i] = v
			}
			uniformReady[v].Store(true)
		}
		uniformMu.Unlock()
	}
	return d
}

// shared reports whether d is one of the shared pages.
func shared(d *[PageSize]byte) bool {
	off := uintptr(unsafe.Pointer(d)) - uintptr(unsafe.Pointer(&uniformPages))
	return off < unsafe.Sizeof(uniformPages)
}

// clearData zeroes the frame's contents, if it has any yet.
func (p *Page) clearData() {
	if d := p.data.Load(); d != nil {
		if shared(d) {
			p.data.Store(nil)
			return
		}
		clear(d[:])
	}
}

// Refs returns the reference count.
func (p *Page) Refs() int32 { return p.refs.Load() }

// MapCount returns how many page-table entries map the frame.
func (p *Page) MapCount() int32 { return p.mapcount.Load() }

// Flags returns the page flags.
func (p *Page) Flags() PageFlags { return PageFlags(p.flags.Load()) }

// Has reports whether all of f are set.
func (p *Page) Has(f PageFlags) bool { return PageFlags(p.flags.Load())&f == f }

// SetFlags sets f.
func (p *Page) SetFlags(f PageFlags) { p.flags.Or(uint32(f)) }

// ClearFlags clears f.
func (p *Page) ClearFlags(f PageFlags) { p.flags.And(^uint32(f)) }

// IsZero reports whether p is the shared zero page.
func (p *Page) IsZero() bool { return p.Has(FlagZero) }

// pinned reports frames whose counts are never kept: the zero page and
// reserved kernel frames.
func (p *Page) pinned() bool { return p.Flags()&(FlagZero|FlagReserved) != 0 }

// NewReserved returns a zeroed frame that belongs to no allocator, as a
// page of the kernel image does (the vsyscall page). It is never freed.
func NewReserved() *Page {
	p := &Page{}
	p.flags.Store(uint32(FlagReserved))
	p.refs.Store(1)
	return p
}

// Get takes a reference (get_page).
func (p *Page) Get() {
	if p.pinned() {
		return
	}
	p.refs.Add(1)
}

// Put drops a reference (put_page); the last one frees the frame.
func (p *Page) Put() {
	if p.pinned() {
		return
	}
	switch n := p.refs.Add(-1); {
	case n == 0:
		if p.release != nil {
			p.release(p)
			return
		}
		p.alloc.free(p)
	case n < 0:
		panic("phys: page reference count underflow")
	}
}

// AddMap accounts one more page-table entry mapping p (folio_add_*_rmap).
func (p *Page) AddMap() {
	if !p.pinned() {
		p.mapcount.Add(1)
	}
}

// RemoveMap accounts one page-table entry fewer (folio_remove_rmap_pte).
func (p *Page) RemoveMap() {
	if !p.pinned() {
		if p.mapcount.Add(-1) < 0 {
			panic("phys: page map count underflow")
		}
	}
}

// ErrNoMemory is returned when the allocator has no frame to give.
var ErrNoMemory = errors.New("phys: out of memory")

// Stats is the allocator's accounting.
type Stats struct {
	InUse  int64 // frames allocated and not yet freed (the zero page excluded)
	Peak   int64 // the most frames in use at once
	Allocs int64 // frames handed out
	Frees  int64 // frames returned
	// Poisoned counts frames taken out of use for good (memory_failure).
	Poisoned int64
}

// Allocator hands out page frames. Freed frames are kept on a free list and
// reused, as the kernel's page allocator does, so a steady state of faults
// does not allocate Go memory.
type Allocator struct {
	// dir maps PFNs to frames without a lock, as vmemmap does: a slot is
	// written once, before its PFN can appear in any page-table entry.
	dir [dirSize]atomic.Pointer[[chunkSize]atomic.Pointer[Page]]

	mu       sync.Mutex // guards everything below (the zone lock)
	nframes  int64      // frames ever created; the next PFN
	freeList []*Page
	// freeHuge keeps freed compound pages by order, whole, for reuse.
	freeHuge map[uint8][]*Page

	swap  *SwapDevice // set once, when the machine is built
	limit int64       // frames; 0 means unlimited
	stats Stats

	zero *Page
}

const (
	chunkShift = 12
	chunkSize  = 1 << chunkShift
	dirSize    = 1 << 12 // at most 16M frames (64 GiB) per model
)

// NewAllocator returns an allocator with no limit. PFN 0 is never used;
// PFN 1 is the zero page.
func NewAllocator() *Allocator {
	a := &Allocator{nframes: 1}
	a.mu.Lock()
	a.zero = a.newFrame()
	a.mu.Unlock()
	a.zero.flags.Store(uint32(FlagZero))
	a.zero.refs.Store(1)
	return a
}

// SetLimit bounds the frames in use; 0 means no bound.
func (a *Allocator) SetLimit(frames int64) {
	a.mu.Lock()
	a.limit = frames
	a.mu.Unlock()
}

// ZeroPage returns the shared zero page (ZERO_PAGE).
func (a *Allocator) ZeroPage() *Page { return a.zero }

// newFrame creates frame number a.nframes. The caller holds a.mu.
func (a *Allocator) newFrame() *Page {
	pfn := PFN(a.nframes)
	d := pfn >> chunkShift
	if d >= dirSize {
		return nil
	}
	chunk := a.dir[d].Load()
	if chunk == nil {
		chunk = new([chunkSize]atomic.Pointer[Page])
		a.dir[d].Store(chunk)
	}
	p := &Page{pfn: pfn, alloc: a}
	chunk[pfn&(chunkSize-1)].Store(p)
	a.nframes++
	return p
}

// Alloc returns a zeroed frame holding one reference, with flags f
// (alloc_page(__GFP_ZERO)).
func (a *Allocator) Alloc(f PageFlags) (*Page, error) {
	a.mu.Lock()
	if a.limit > 0 && a.stats.InUse >= a.limit {
		a.mu.Unlock()
		return nil, ErrNoMemory
	}
	var p *Page
	if n := len(a.freeList); n > 0 {
		p = a.freeList[n-1]
		a.freeList = a.freeList[:n-1]
	} else if p = a.newFrame(); p == nil {
		a.mu.Unlock()
		return nil, ErrNoMemory
	}
	a.stats.InUse++
	a.stats.Allocs++
	if a.stats.InUse > a.stats.Peak {
		a.stats.Peak = a.stats.InUse
	}
	a.mu.Unlock()

	// Frames come back dirty from the free list: clear them outside the lock.
	p.clearData()
	p.flags.Store(uint32(f))
	p.mapcount.Store(0)
	p.refs.Store(1)
	return p, nil
}

func (a *Allocator) free(p *Page) {
	if p.mapcount.Load() != 0 {
		panic("phys: freeing a mapped page")
	}
	if cg := p.memcg.Swap(nil); cg != nil {
		cg.uncharge(int64(1) << p.order)
	}
	if p.Has(FlagHWPoison) {
		a.Retire(p)
		return
	}
	p.flags.Store(0)
	if p.order == 0 {
		if d := p.data.Swap(nil); d != nil && !shared(d) {
			contentPool.Put(d)
		}
	}
	n := int64(1) << p.order
	a.mu.Lock()
	if p.order > 0 {
		if a.freeHuge == nil {
			a.freeHuge = map[uint8][]*Page{}
		}
		a.freeHuge[p.order] = append(a.freeHuge[p.order], p)
	} else {
		a.freeList = append(a.freeList, p)
	}
	a.stats.InUse -= n
	a.stats.Frees += n
	a.mu.Unlock()
}

// Retire takes a freed, poisoned page out of use for good: its frames are
// never handed out again (a hwpoisoned page stays off the free lists).
func (a *Allocator) Retire(p *Page) {
	n := int64(1) << p.order
	a.mu.Lock()
	a.stats.InUse -= n
	a.stats.Poisoned += n
	a.mu.Unlock()
}

// AllocCompound returns a zeroed compound page of 1<<order contiguous
// frames, holding one reference on its head (alloc_pages of an order).
func (a *Allocator) AllocCompound(order int, f PageFlags) (*Page, error) {
	n := int64(1) << order
	a.mu.Lock()
	if a.limit > 0 && a.stats.InUse+n > a.limit {
		a.mu.Unlock()
		return nil, ErrNoMemory
	}
	var head *Page
	if list := a.freeHuge[uint8(order)]; len(list) > 0 {
		head = list[len(list)-1]
		a.freeHuge[uint8(order)] = list[:len(list)-1]
	} else {
		for i := int64(0); i < n; i++ {
			q := a.newFrame()
			if q == nil {
				a.mu.Unlock()
				return nil, ErrNoMemory
			}
			if i == 0 {
				head = q
			}
			q.head = head
		}
		head.head = nil
		head.order = uint8(order)
	}
	a.stats.InUse += n
	a.stats.Allocs += n
	if a.stats.InUse > a.stats.Peak {
		a.stats.Peak = a.stats.InUse
	}
	a.mu.Unlock()
	for i := int64(0); i < n; i++ {
		head.Sub(int(i)).clearData()
	}
	head.flags.Store(uint32(f))
	head.mapcount.Store(0)
	head.refs.Store(1)
	head.release = nil
	return head, nil
}

// Lookup returns the frame pfn (pfn_to_page), or nil for a PFN never handed out.
// It takes no lock.
func (a *Allocator) Lookup(pfn PFN) *Page {
	d := pfn >> chunkShift
	if pfn == 0 || d >= dirSize {
		return nil
	}
	chunk := a.dir[d].Load()
	if chunk == nil {
		return nil
	}
	return chunk[pfn&(chunkSize-1)].Load()
}

// Stats returns a snapshot of the accounting.
func (a *Allocator) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}
