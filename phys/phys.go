// Package phys models physical memory: page frames of the machine's base
// page size (4, 16 or 64 KiB: the allocator's, fixed when it is made) with
// real contents, the shared zero page, and a page allocator that accounts for
// every frame it hands out.
//
// A Page is what the kernel calls a struct page (an order-0 folio): it has
// a reference count (mappings, page-cache entries and transient users each
// hold one) and a map count (the page-table entries that map it). A frame
// returns to the allocator when its last reference is put.
//
// Page structs live in chunks, as the kernel's vmemmap does: arrays of
// frames allocated together, so that a resident page costs 32 bytes of
// bookkeeping and its frame number and allocator follow from where it
// sits. Frames are handed out through per-task caches (Cache) refilled
// from and drained to the allocator's free list in batches, as the
// kernel's per-CPU page lists are.
package phys

import (
	"errors"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Page geometry: the base page sizes a machine may have (PAGE_SHIFT 12,
// 14 or 16). An allocator's is fixed when it is made (NewAllocatorShift).
const (
	DefaultPageShift = 12 // 4 KiB, every arch's smallest
	MaxPageShift     = 16 // 64 KiB
	MaxPageSize      = 1 << MaxPageShift
)

// ValidPageShift reports whether shift is a base page size the model has.
func ValidPageShift(shift uint) bool { return shift == 12 || shift == 14 || shift == 16 }

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

	// flagRelease: the page has a release function in its allocator's
	// side table (a hugetlb pool takes it back). Internal; Flags hides it.
	flagRelease PageFlags = 1 << 31

	// The frame's size, (PAGE_SHIFT-12)/2 in two bits, set when the frame
	// is made and kept: the contents' length without a look at the
	// allocator. Internal; Flags hides it.
	sizeShift           = 28
	flagSize  PageFlags = 3 << sizeShift
	// flagsInternal are the bits SetFlags and ClearFlags leave alone.
	flagsInternal = flagRelease | flagSize
)

// sizeFlags returns the size bits of a frame of 1<<shift bytes.
func sizeFlags(shift uint) uint32 { return uint32(shift-DefaultPageShift) / 2 << sizeShift }

// Page is one physical page frame (struct page). Its fields are shared
// with lockless readers (the MMU walk, reclaim scans) and accessed with
// sync/atomic, except while the frame is private to the allocator and to
// the one task it is being handed to: a frame nobody else can see yet is
// initialised with plain stores, as set_page_count is not atomic_set.
type Page struct {
	// data is the frame's contents (its allocator's page size of bytes:
	// the length is the allocator's, not kept here), made on first use:
	// a frame nobody looked at (a free huge page in the pool) costs no
	// memory.
	data     unsafe.Pointer
	refs     int32  // references (page_ref_count)
	mapcount int32  // page-table entries mapping the frame (page_mapcount)
	flags    uint32 // PageFlags
	pfn      uint32 // the frame number: at most maxFrames
	// compound packs a compound page (a hugetlb folio: order contiguous
	// frames, whose counts and flags live in the head): a head keeps its
	// order in the top bits, a tail its distance to the head below.
	compound uint32
	// owner packs the memory cgroup the page is charged to (an index in
	// its allocator's table, 0 for none) in the low half and, in the high
	// half, the cache the frame was handed out through (0: the zone),
	// which gets it back when it is freed.
	owner uint32
}

const (
	orderShift = 27
	tailMask   = 1<<orderShift - 1
	memcgMask  = 1<<16 - 1
	homeShift  = 16
)

// Chunks of frames. A chunk fills a 128 KiB allocation with its header,
// so that the Go heap rounds nothing up.
const (
	pageStructSize = 32
	chunkFrames    = (128<<10 - 8) / pageStructSize
	maxFrames      = 1 << 24 // 64 GiB per model
	dirSize        = (maxFrames + chunkFrames - 1) / chunkFrames
)

// A Page is 32 bytes, a chunk's header one pointer.
var (
	_ = [1]struct{}{}[unsafe.Sizeof(Page{})-pageStructSize]
	_ = [1]struct{}{}[unsafe.Offsetof(chunk{}.pages)-8]
)

// chunk is a run of page structs (a section of vmemmap).
type chunk struct {
	alloc *Allocator
	pages [chunkFrames]Page
}

// chunk returns the chunk p sits in (page_to_pfn's arithmetic, backwards).
// Preconditions: p belongs to an allocator (it is not a reserved frame).
func (p *Page) chunk() *chunk {
	i := uintptr(p.pfn) % chunkFrames
	return (*chunk)(unsafe.Add(unsafe.Pointer(p), -int(i*pageStructSize+unsafe.Offsetof(chunk{}.pages))))
}

// allocator returns the allocator p belongs to.
func (p *Page) allocator() *Allocator { return p.chunk().alloc }

// Head returns the head page of p's compound page (p itself if not compound).
func (p *Page) Head() *Page {
	off := p.compound & tailMask
	if off == 0 {
		return p
	}
	return p.allocator().Lookup(PFN(p.pfn - off))
}

// Order returns log2 of the number of frames of a head page.
func (p *Page) Order() int { return int(p.compound >> orderShift) }

// Sub returns the i-th frame of the compound page headed by p.
func (p *Page) Sub(i int) *Page { return p.allocator().Lookup(PFN(p.pfn) + PFN(i)) }

// SetRelease makes fn take the page back when its last reference goes
// instead of the allocator (a hugetlb pool); nil gives it back to the
// allocator. The function lives in the allocator's side table: few
// pages have one.
func (p *Page) SetRelease(fn func(*Page)) {
	a := p.allocator()
	a.mu.Lock()
	if fn == nil {
		delete(a.release, p.PFN())
		atomic.AndUint32(&p.flags, ^uint32(flagRelease))
	} else {
		if a.release == nil {
			a.release = map[PFN]func(*Page){}
		}
		a.release[p.PFN()] = fn
		atomic.OrUint32(&p.flags, uint32(flagRelease))
	}
	a.mu.Unlock()
}

// PFN returns the frame number.
func (p *Page) PFN() PFN { return PFN(p.pfn) }

// size returns the bytes of the frame's contents: its allocator's page
// size, from the size bits of its flags (a reserved frame, which has no
// allocator, is 4 KiB: the x86 vsyscall page).
func (p *Page) size() uint64 {
	return 1 << (DefaultPageShift + 2*(atomic.LoadUint32(&p.flags)>>sizeShift&3))
}

// bytesAt returns the n bytes at d as a slice.
func bytesAt(d unsafe.Pointer, n uint64) []byte { return unsafe.Slice((*byte)(d), n) }

// Data returns the frame's contents, to read or write. Writing the zero
// page is a bug. A frame that shares its contents (Fill) gets a copy of
// its own first.
func (p *Page) Data() []byte {
	n := p.size()
	return bytesAt(p.dataOf(n), n)
}

// dataOf is Data's pointer, for a frame of n bytes.
func (p *Page) dataOf(n uint64) unsafe.Pointer {
	for {
		d := atomic.LoadPointer(&p.data)
		if d != nil && !shared(d) {
			return d
		}
		c := getContents(n)
		if d != nil {
			copy(bytesAt(c, n), bytesAt(d, n))
		} else {
			clear(bytesAt(c, n))
		}
		if atomic.CompareAndSwapPointer(&p.data, d, c) {
			return c
		}
		putContents(c, n)
	}
}

// contentPools hold the contents of the frames of allocators whose
// machine has ended (Recycle), by page size, for the next frame written,
// of any allocator: a run that faults megabytes reuses memory the process
// has, rather than asking the heap (and the garbage collector) for a page
// of memory a page, run after run. Within one allocator a freed frame
// keeps its contents, which its next allocation clears in place.
var contentPools [MaxPageShift + 1]sync.Pool

// getContents returns n bytes for a frame's contents (n a page size).
func getContents(n uint64) unsafe.Pointer {
	shift := bits.TrailingZeros64(n)
	if d, ok := contentPools[shift].Get().(unsafe.Pointer); ok {
		return d
	}
	return unsafe.Pointer(unsafe.SliceData(make([]byte, n)))
}

// putContents gives n bytes of a frame's contents back to the pool.
func putContents(d unsafe.Pointer, n uint64) {
	contentPools[bits.TrailingZeros64(n)].Put(d)
}

// Recycle gives the contents of every free frame to the frames of
// allocators made later. It is for a machine whose run is over, with
// every page back (Stats().InUse == 0) and no task left to allocate; a
// frame allocated afterwards starts empty, as a frame never used does.
func (a *Allocator) Recycle() {
	for pfn := PFN(1); pfn < PFN(a.nframes.Load()); pfn++ {
		p := a.Lookup(pfn)
		if p.pinned() || p.Refs() != 0 {
			continue
		}
		if d := atomic.SwapPointer(&p.data, nil); d != nil && !shared(d) {
			putContents(d, a.pageSize)
		}
	}
}

// Store writes v at byte off of the frame (off below its page size). A
// frame that shares the contents of a fill of v keeps sharing them: the
// store changes no byte.
func (p *Page) Store(off uint64, v byte) {
	if d := atomic.LoadPointer(&p.data); d != nil && !shared(d) {
		*(*byte)(unsafe.Add(d, off)) = v // contents of its own: no copy to make
		return
	}
	if u, ok := p.Uniform(); ok && u == v {
		return
	}
	d := p.Data()
	d[off&uint64(len(d)-1)] = v
}

// Load reads byte off of the frame (off below its page size): Contents()[off]
// without making the slice.
func (p *Page) Load(off uint64) byte {
	d := atomic.LoadPointer(&p.data)
	if d == nil {
		return 0
	}
	return *(*byte)(unsafe.Add(d, off)) // a shared page has at least the page size filled
}

// FillRange sets the n bytes from off to v (off+n at most the page size): the
// whole frame as Fill does; a frame sharing the contents of a fill of v
// keeps sharing them.
func (p *Page) FillRange(off, n uint64, v byte) {
	switch u, ok := p.Uniform(); {
	case n == 0, ok && u == v:
	case n == p.size():
		p.Fill(v)
	default:
		FillBytes(p.Data()[off:off+n], v)
	}
}

// Contents returns the frame's contents to read, never to write: a
// frame not written since it was made or filled makes no copy of its own.
func (p *Page) Contents() []byte {
	n := p.size()
	return bytesAt(p.contentsOf(n), n)
}

// contentsOf is Contents' pointer, for a frame of n bytes.
func (p *Page) contentsOf(n uint64) unsafe.Pointer {
	if d := atomic.LoadPointer(&p.data); d != nil {
		return d
	}
	return uniformOf(0, n)
}

// Fill sets every byte of the frame to v. A frame with no contents of
// its own yet shares those of every frame filled with v, until written:
// a page cache of a file's fill, a cleared huge page, a copy of either,
// costs no page of memory a page (the model's, not the kernel's, economy).
func (p *Page) Fill(v byte) {
	d := atomic.LoadPointer(&p.data)
	if d == nil || shared(d) {
		if v == 0 {
			atomic.StorePointer(&p.data, nil)
		} else {
			atomic.StorePointer(&p.data, uniformOf(v, p.size()))
		}
		return
	}
	FillBytes(bytesAt(d, p.size()), v)
}

// FillBytes sets every byte of b to v, doubling what it has set: a
// memmove per doubling instead of a store per byte.
func FillBytes(b []byte, v byte) {
	if len(b) == 0 {
		return
	}
	b[0] = v
	for i := 1; i < len(b); i *= 2 {
		copy(b[i:], b[:i])
	}
}

// Uniform reports whether every byte of the frame is known to be one
// value without looking at them (a frame made or filled and not written
// since), and which.
func (p *Page) Uniform() (byte, bool) {
	d := atomic.LoadPointer(&p.data)
	switch {
	case d == nil:
		return 0, true
	case shared(d):
		return *(*byte)(d), true // a shared page is never written
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
	n := p.size() // src's too: frames of one machine
	d, c := p.dataOf(n), src.contentsOf(n)
	if n == 1<<DefaultPageShift {
		*(*[1 << DefaultPageShift]byte)(d) = *(*[1 << DefaultPageShift]byte)(c) // a constant size: copied inline
		return
	}
	copy(bytesAt(d, n), bytesAt(c, n))
}

// uniformPages[v] is a page of bytes v (of the largest page size), which
// every frame filled with v and not written since shares (read only);
// uniformLen[v] says how many of its bytes are filled. A frame's contents
// are shared exactly when they lie in this array: a test of their
// address, never of their bytes, which their writers may be changing.
var (
	uniformMu    sync.Mutex // serializes the filling of uniformPages
	uniformLen   [256]atomic.Uint64
	uniformPages [256][MaxPageSize]byte
)

// uniformOf returns the shared page of bytes v, at least n of them filled.
func uniformOf(v byte, n uint64) unsafe.Pointer {
	d := &uniformPages[v]
	if v != 0 && uniformLen[v].Load() < n {
		uniformMu.Lock()
		if have := uniformLen[v].Load(); have < n {
			FillBytes(d[have:n], v)
			uniformLen[v].Store(n)
		}
		uniformMu.Unlock()
	}
	return unsafe.Pointer(d)
}

// shared reports whether d is one of the shared pages.
func shared(d unsafe.Pointer) bool {
	off := uintptr(d) - uintptr(unsafe.Pointer(&uniformPages))
	return off < unsafe.Sizeof(uniformPages)
}

// clearData zeroes the frame's contents, if it has any of its own yet: a freed frame keeps them, so that the next allocation clears
// memory that is already there (and likely in cache) rather than asking
// the heap.
func (p *Page) clearData() {
	d := atomic.LoadPointer(&p.data)
	switch {
	case d == nil:
	case shared(d):
		atomic.StorePointer(&p.data, nil)
	case p.flags&uint32(flagSize) == 0:
		clear((*[1 << DefaultPageShift]byte)(d)[:]) // 4 KiB, a constant size: cleared inline
	default:
		clear(bytesAt(d, p.size()))
	}
}

// Refs returns the reference count.
func (p *Page) Refs() int32 { return atomic.LoadInt32(&p.refs) }

// MapCount returns how many page-table entries map the frame.
func (p *Page) MapCount() int32 { return atomic.LoadInt32(&p.mapcount) }

// Flags returns the page flags.
func (p *Page) Flags() PageFlags { return PageFlags(atomic.LoadUint32(&p.flags)) &^ flagsInternal }

// Has reports whether all of f are set.
func (p *Page) Has(f PageFlags) bool { return PageFlags(atomic.LoadUint32(&p.flags))&f == f }

// SetFlags sets f.
func (p *Page) SetFlags(f PageFlags) { atomic.OrUint32(&p.flags, uint32(f&^flagsInternal)) }

// ClearFlags clears f.
func (p *Page) ClearFlags(f PageFlags) { atomic.AndUint32(&p.flags, ^uint32(f&^flagsInternal)) }

// IsZero reports whether p is the shared zero page.
func (p *Page) IsZero() bool { return p.Has(FlagZero) }

// pinned reports frames whose counts are never kept: the zero page and
// reserved kernel frames.
func (p *Page) pinned() bool {
	return PageFlags(atomic.LoadUint32(&p.flags))&(FlagZero|FlagReserved) != 0
}

// NewReserved returns a zeroed frame that belongs to no allocator, as a
// page of the kernel image does (the vsyscall page). It is never freed.
func NewReserved() *Page {
	return &Page{flags: uint32(FlagReserved), refs: 1}
}

// Get takes a reference (get_page).
func (p *Page) Get() {
	if p.pinned() {
		return
	}
	atomic.AddInt32(&p.refs, 1)
}

// Put drops a reference (put_page); the last one frees the frame.
func (p *Page) Put() {
	if p.pinned() {
		return
	}
	switch n := atomic.AddInt32(&p.refs, -1); {
	case n == 0:
		a := p.allocator()
		if p.Has(flagRelease) {
			a.mu.Lock()
			fn := a.release[p.PFN()]
			a.mu.Unlock()
			fn(p)
			return
		}
		a.free(p)
	case n < 0:
		panic("phys: page reference count underflow")
	}
}

// AddMap accounts one more page-table entry mapping p (folio_add_*_rmap).
func (p *Page) AddMap() {
	if !p.pinned() {
		atomic.AddInt32(&p.mapcount, 1)
	}
}

// AddNewMap accounts the first page-table entry of a page just
// allocated, before that entry is installed (folio_add_new_anon_rmap):
// nobody else can see the page yet, so its map count is set with a plain
// store, not a locked add. DropNewMap undoes it when the entry could not
// be installed after all.
func (p *Page) AddNewMap() { p.mapcount = 1 }

// DropNewMap undoes AddNewMap for a page whose entry was not installed.
func (p *Page) DropNewMap() { p.mapcount = 0 }

// RemoveMap accounts one page-table entry fewer (folio_remove_rmap_pte).
func (p *Page) RemoveMap() {
	if !p.pinned() {
		if atomic.AddInt32(&p.mapcount, -1) < 0 {
			panic("phys: page map count underflow")
		}
	}
}

// ErrNoMemory is returned when the allocator has no frame to give.
var ErrNoMemory = errors.New("phys: out of memory")

// Stats is the allocator's accounting.
type Stats struct {
	InUse int64 // frames allocated and not yet freed (the zero page excluded)
	// Peak is the most frames in use at once. It is exact while a limit
	// is set (the exact path) and while frames go through the zone only;
	// otherwise each cache folds its net count into the zone's once it
	// reaches cacheBatch frames, as a percpu_counter does, and Peak may be
	// off by less than cacheBatch frames per cache.
	Peak   int64
	Allocs int64 // frames handed out
	Frees  int64 // frames returned
	// Poisoned counts frames taken out of use for good (memory_failure).
	Poisoned int64
}

// Allocator hands out page frames. Freed frames are kept on a free list and
// reused, as the kernel's page allocator does, so a steady state of faults
// does not allocate Go memory.
type Allocator struct {
	// dir maps PFNs to chunks of frames without a lock, as vmemmap does:
	// a slot is written once, before any of its PFNs is handed out.
	dir     [dirSize]atomic.Pointer[chunk]
	nframes atomic.Int64 // frames ever created, the next PFN; written under mu

	// exact is set while a limit is set: the caches are bypassed and
	// drained, so that every allocation sees the exact count in use.
	exact atomic.Bool
	// cacheTab and memcgTab map the indexes kept in a page's owner to
	// caches and memory cgroups; copied on write under mu.
	cacheTab atomic.Pointer[[]*Cache]
	memcgTab atomic.Pointer[[]*MemCG]
	// Every allocation and free reads the fields above; the zone lock's
	// cache line, which tasks write in turn, is kept apart from them.
	_ [64]byte

	mu       sync.Mutex // guards everything below (the zone lock)
	freeList []*Page
	// freeHuge keeps freed compound pages by order, whole, for reuse.
	freeHuge map[uint8][]*Page
	// caches are the live caches, copied on write; cacheGen counts the
	// changes of the list, freeIDs the cache indexes free for reuse.
	caches   []*Cache
	cacheGen uint64
	freeIDs  []uint32
	release  map[PFN]func(*Page) // the release functions of pages that have one

	swap  *SwapDevice // set once, when the machine is built
	limit int64       // frames; 0 means unlimited
	// stats counts what went through the zone itself, and what caches
	// folded into it when they were drained for good; InUse also counts
	// the net counts caches folded in, so that it is the allocator's
	// best count of frames in use, exact while exact is set.
	stats Stats

	zero *Page

	pageShift uint   // PAGE_SHIFT of the frames
	pageSize  uint64 // PAGE_SIZE
	sizeBits  uint32 // the size bits of every frame's flags (sizeFlags)
}

// NewAllocator returns an allocator of 4 KiB frames with no limit (see
// NewAllocatorShift).
func NewAllocator() *Allocator { return NewAllocatorShift(DefaultPageShift) }

// NewAllocatorShift returns an allocator of frames of 1<<shift bytes
// (PAGE_SHIFT: 12, 14 or 16) with no limit. PFN 0 is never used; PFN 1 is
// the zero page.
func NewAllocatorShift(shift uint) *Allocator {
	if !ValidPageShift(shift) {
		panic("phys: bad page shift")
	}
	a := &Allocator{pageShift: shift, pageSize: 1 << shift, sizeBits: sizeFlags(shift)}
	a.nframes.Store(1)
	a.cacheTab.Store(&[]*Cache{nil})
	a.memcgTab.Store(&[]*MemCG{nil})
	a.mu.Lock()
	a.zero = a.newFrame()
	a.mu.Unlock()
	a.zero.flags |= uint32(FlagZero)
	a.zero.refs = 1
	return a
}

// SetLimit bounds the frames in use; 0 means no bound. With a bound the
// allocator takes its exact path: every allocation must see the count of
// frames in use across all tasks, which the caches only approximate, so
// they are drained and bypassed until the bound is lifted.
func (a *Allocator) SetLimit(frames int64) {
	a.mu.Lock()
	a.limit = frames
	a.mu.Unlock()
	a.exact.Store(frames > 0)
	if frames > 0 {
		a.drainAll()
	}
}

// PageShift returns the frames' PAGE_SHIFT.
func (a *Allocator) PageShift() uint { return a.pageShift }

// PageSize returns the frames' size in bytes (PAGE_SIZE).
func (a *Allocator) PageSize() uint64 { return a.pageSize }

// PageMask returns PAGE_MASK: the bits of an address above its offset
// within a page.
func (a *Allocator) PageMask() uint64 { return ^(a.pageSize - 1) }

// PageSize returns the frame's size in bytes (its allocator's page size).
func (p *Page) PageSize() uint64 { return p.size() }

// ZeroPage returns the shared zero page (ZERO_PAGE).
func (a *Allocator) ZeroPage() *Page { return a.zero }

// newFrame creates frame number a.nframes. Preconditions: a.mu.
func (a *Allocator) newFrame() *Page {
	n := a.nframes.Load()
	if n >= maxFrames {
		return nil
	}
	d, i := n/chunkFrames, n%chunkFrames
	c := a.dir[d].Load()
	if c == nil {
		c = &chunk{alloc: a}
		a.dir[d].Store(c)
	}
	p := &c.pages[i]
	p.pfn = uint32(n) // before Lookup can see it: nframes publishes it
	p.flags = a.sizeBits
	a.nframes.Store(n + 1)
	return p
}

// takeLocked takes a free order-0 frame from the zone. Preconditions: a.mu.
func (a *Allocator) takeLocked() *Page {
	if n := len(a.freeList); n > 0 {
		p := a.freeList[n-1]
		a.freeList = a.freeList[:n-1]
		return p
	}
	return a.newFrame()
}

// countLocked accounts n frames handed out by the zone (negative:
// returned). Preconditions: a.mu.
func (a *Allocator) countLocked(n int64) {
	a.stats.InUse += n
	if a.stats.InUse > a.stats.Peak {
		a.stats.Peak = a.stats.InUse
	}
}

// prep initialises a frame the caller alone can see (prep_new_page): plain
// stores, no barrier, as the kernel's set_page_count. Frames come back
// dirty from the free lists: they are cleared here, outside any lock.
func (p *Page) prep(f PageFlags, home, sizeBits uint32) {
	p.clearData()
	p.flags = uint32(f) | sizeBits
	p.mapcount = 0
	p.refs = 1
	p.owner = home << homeShift
}

// Alloc returns a zeroed frame holding one reference, with flags f
// (alloc_page(__GFP_ZERO)), from the zone itself: under the zone lock,
// with exact accounting.
func (a *Allocator) Alloc(f PageFlags) (*Page, error) {
	a.mu.Lock()
	if a.limit > 0 && a.stats.InUse >= a.limit {
		a.mu.Unlock()
		return nil, ErrNoMemory
	}
	p := a.takeLocked()
	if p == nil {
		a.mu.Unlock()
		return nil, ErrNoMemory
	}
	a.stats.Allocs++
	a.countLocked(1)
	a.mu.Unlock()
	p.prep(f, 0, a.sizeBits)
	return p, nil
}

func (a *Allocator) free(p *Page) {
	if atomic.LoadInt32(&p.mapcount) != 0 {
		panic("phys: freeing a mapped page")
	}
	// The last reference is gone: only a racing lookup that holds none
	// can still read the frame. Its flags and home stay as they are
	// until the frame is handed out again (prep); the charge goes now.
	owner := atomic.LoadUint32(&p.owner)
	order := p.compound >> orderShift
	if id := owner & memcgMask; id != 0 {
		atomic.StoreUint32(&p.owner, owner&^memcgMask)
		(*a.memcgTab.Load())[id].uncharge(int64(1) << order)
	}
	if p.Has(FlagHWPoison) {
		a.Retire(p)
		return
	}
	if home := owner >> homeShift; home != 0 && order == 0 && !a.exact.Load() {
		if tab := *a.cacheTab.Load(); int(home) < len(tab) && tab[home] != nil && tab[home].put(p) {
			return
		}
	}
	n := int64(1) << order
	a.mu.Lock()
	if order > 0 {
		if a.freeHuge == nil {
			a.freeHuge = map[uint8][]*Page{}
		}
		a.freeHuge[uint8(order)] = append(a.freeHuge[uint8(order)], p)
	} else {
		a.freeList = append(a.freeList, p)
	}
	a.stats.Frees += n
	a.countLocked(-n)
	a.mu.Unlock()
}

// Retire takes a freed, poisoned page out of use for good: its frames are
// never handed out again (a hwpoisoned page stays off the free lists).
func (a *Allocator) Retire(p *Page) {
	n := int64(1) << p.Order()
	a.mu.Lock()
	a.stats.Poisoned += n
	a.countLocked(-n)
	a.mu.Unlock()
}

// AllocCompound returns a zeroed compound page of 1<<order contiguous
// frames, holding one reference on its head (alloc_pages of an order).
// Compound pages always come from the zone.
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
		if a.nframes.Load()+n > maxFrames {
			a.mu.Unlock()
			return nil, ErrNoMemory
		}
		for i := int64(0); i < n; i++ {
			q := a.newFrame()
			if i == 0 {
				head = q
			}
			q.compound = uint32(i)
		}
		head.compound = uint32(order) << orderShift
	}
	a.stats.Allocs += n
	a.countLocked(n)
	a.mu.Unlock()
	for i := int64(1); i < n; i++ {
		head.Sub(int(i)).clearData()
	}
	head.prep(f, 0, a.sizeBits)
	return head, nil
}

// Lookup returns the frame pfn (pfn_to_page), or nil for a PFN never handed out.
// It takes no lock.
func (a *Allocator) Lookup(pfn PFN) *Page {
	if pfn == 0 || pfn >= PFN(a.nframes.Load()) {
		return nil
	}
	return &a.dir[pfn/chunkFrames].Load().pages[pfn%chunkFrames]
}

// Stats returns a snapshot of the accounting: the zone's counts and every
// live cache's, read with all their locks held.
func (a *Allocator) Stats() Stats {
	for {
		a.mu.Lock()
		caches, gen := a.caches, a.cacheGen
		a.mu.Unlock()
		for _, c := range caches {
			c.mu.Lock()
		}
		a.mu.Lock()
		ok := a.cacheGen == gen
		st := a.stats
		a.mu.Unlock()
		var allocs, frees int64
		for _, c := range caches {
			allocs += c.allocs
			frees += c.frees
			c.mu.Unlock()
		}
		if !ok {
			continue // a cache came or went: its counts may have moved
		}
		st.Allocs += allocs
		st.Frees += frees
		st.InUse = st.Allocs - st.Frees - st.Poisoned
		st.Peak = max(st.Peak, st.InUse)
		return st
	}
}
