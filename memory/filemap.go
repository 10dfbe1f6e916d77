package memory

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
	"github.com/faultline/faultline/vmfault"
)

// Disk is the model's storage device. A read completes when the task that
// waits for it goes to sleep, unless reads of its file are held
// (`io NAME hold`), in which case it completes on release: the model's
// scheduler, not wall-clock time, decides when I/O ends, so a scenario can
// act while a fault waits.
type Disk struct {
	mu      sync.Mutex // guards pending and spare
	pending []readReq
	// spare is the array of the requests Run last completed, cleared,
	// for the next batch: a read-ahead window submits a request a page.
	spare []readReq
	// clock stamps the page-cache pages of the disk's files when they
	// are added or used: reclaim takes the oldest first, as the inactive
	// file LRU gives them.
	clock atomic.Uint64
	// growZeroesOldTail: ext4 zeroes the old partial EOF block when a
	// file grows (from ext4GrowZeroSince).
	growZeroesOldTail bool
}

// ext4GrowZeroSince is the first kernel whose ext4 zeroes the tail of
// the old EOF block when truncate(2) grows a file past it (ext4_setattr:
// ext4_block_truncate_page at the old size): Brian Foster's "ext4:
// partial zero eof block on unaligned inode size extension" (September
// 2024). Read: Debian's 6.12 fs/ext4/inode.c has it, 6.1's does not;
// observed: arm64 6.1 keeps bytes written through a mapping past the old
// EOF, 6.12 and the 6.18 host zero them. Whether 6.12 has it from
// mainline (6.12-rc1) or a stable backport was not checked. Before it,
// only the tail past the new size is zeroed (truncate_pagecache).
var ext4GrowZeroSince = config.Version{Major: 6, Minor: 12}

type readReq struct {
	f   *File
	idx uint64
	c   *cachePage
}

// NewDisk returns an idle disk, its filesystem as kernel version v's
// ext4.
func NewDisk(v config.Version) *Disk {
	return &Disk{growZeroesOldTail: v.Compare(ext4GrowZeroSince) >= 0}
}

// submit queues a read of page idx of f into c.
func (d *Disk) submit(f *File, idx uint64, c *cachePage) {
	d.mu.Lock()
	d.pending = append(d.pending, readReq{f: f, idx: idx, c: c})
	d.mu.Unlock()
}

// Run completes every pending read whose file is not held.
func (d *Disk) Run() {
	d.mu.Lock()
	done := d.pending // the requests to complete, kept in place
	d.pending, d.spare = d.spare[:0], nil
	n := 0
	for _, r := range done {
		if r.f.isHeld() {
			d.pending = append(d.pending, r)
		} else {
			done[n] = r
			n++
		}
	}
	d.mu.Unlock()
	for _, r := range done[:n] {
		r.f.complete(r.idx, r.c)
	}
	clear(done)
	d.mu.Lock()
	if cap(done) > cap(d.spare) {
		d.spare = done[:0]
	}
	d.mu.Unlock()
}

// cachePage is one page of a file's page cache.
type cachePage struct {
	page      *phys.Page
	uptodate  bool
	locked    bool         // under I/O (the folio lock)
	readahead bool         // PG_readahead: a hit starts the next window
	mlocked   bool         // on the unevictable list: reclaim skips it
	used      uint64       // the disk clock when last added or used
	unlock    *sched.Event // fires when the page is unlocked; made for its first waiter
	idx       uint64       // the page's index in the file
	// mayBeClean: the page was clean when added or last written back.
	// Only writeback cleans a cached page, so a page without it is dirty,
	// and reclaim looking for clean pages passes it by.
	mayBeClean bool
	prev, next *cachePage // its neighbours on its LRU list
	// cprev and cnext link the pages of its list that may be clean, in
	// the list's order: reclaim looking for clean pages walks those only,
	// not the dirty ones before them.
	cprev, cnext *cachePage
}

// lruList is a list of cached pages from the least recently used on, by
// their stamps (the file's inactive LRU, or its unevictable list), and
// the sublist, in the same order, of its pages that may be clean, with
// their count.
type lruList struct {
	head, tail           *cachePage
	cleanHead, cleanTail *cachePage
	clean                int
}

// pushBack queues c at the young end.
func (l *lruList) pushBack(c *cachePage) {
	c.prev, c.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
	if c.mayBeClean {
		l.linkClean(l.cleanTail, c)
	}
}

// remove takes c off the list.
func (l *lruList) remove(c *cachePage) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next = nil, nil
	if c.mayBeClean {
		l.unlinkClean(c)
	}
}

// insertAfter links c into l after at (at nil: at the head).
func (l *lruList) insertAfter(at, c *cachePage) {
	if at == l.tail {
		l.pushBack(c)
		return
	}
	next := l.head
	if at != nil {
		next = at.next
	}
	c.prev, c.next = at, next
	next.prev = c
	if at != nil {
		at.next = c
	} else {
		l.head = c
	}
	if c.mayBeClean {
		l.linkClean(l.cleanBefore(c), c)
	}
}

// markClean notes that c, on the list, may be clean now (it was written
// back).
func (l *lruList) markClean(c *cachePage) {
	if !c.mayBeClean {
		c.mayBeClean = true
		l.linkClean(l.cleanBefore(c), c)
	}
}

// markDirty notes that c, on the list, was found dirty.
func (l *lruList) markDirty(c *cachePage) {
	if c.mayBeClean {
		l.unlinkClean(c)
		c.mayBeClean = false
	}
}

// cleanBefore returns the last page before c on the list that may be
// clean, nil if none.
func (l *lruList) cleanBefore(c *cachePage) *cachePage {
	at := c.prev
	for at != nil && !at.mayBeClean {
		at = at.prev
	}
	return at
}

// linkClean links c into the clean sublist after at (at nil: first).
func (l *lruList) linkClean(at, c *cachePage) {
	next := l.cleanHead
	if at != nil {
		next = at.cnext
	}
	c.cprev, c.cnext = at, next
	if at != nil {
		at.cnext = c
	} else {
		l.cleanHead = c
	}
	if next != nil {
		next.cprev = c
	} else {
		l.cleanTail = c
	}
	l.clean++
}

// unlinkClean takes c off the clean sublist.
func (l *lruList) unlinkClean(c *cachePage) {
	if c.cprev != nil {
		c.cprev.cnext = c.cnext
	} else {
		l.cleanHead = c.cnext
	}
	if c.cnext != nil {
		c.cnext.cprev = c.cprev
	} else {
		l.cleanTail = c.cprev
	}
	c.cprev, c.cnext = nil, nil
	l.clean--
}

// File is a regular file of a disk file system (ext4-like): its bytes on
// the disk and its page cache (an inode and its address_space). It is the
// backing of the VMAs that map it, and supplies their pages through
// filemap_fault, fault-around and page_mkwrite.
type File struct {
	name    string
	alloc   *phys.Allocator
	disk    *Disk
	raPages uint64 // the read-ahead window, in pages
	shift   uint   // PAGE_SHIFT of the page cache's pages (its allocator's)
	psize   uint64 // PAGE_SIZE

	mu   sync.Mutex // guards everything below (i_rwsem and the i_pages lock)
	size uint64     // i_size
	// The disk: fill below fillEnd, zeros above, except written-back blocks.
	fill    byte
	fillEnd uint64
	blocks  map[uint64][]byte
	fillRef []byte   // a page of fill, to compare with
	cache   pageTree // the page cache, by page index
	// Pages below hotEnd are in the page cache, dirty, as after the
	// write(2) that created the file, unless truncation or eviction took
	// them out since; their frames are made when first used.
	hotEnd uint64
	held   bool
	vmas   []*mm.VMA // i_mmap, in the order they were opened
	// lru lists every cached page reclaim may consider, from the least
	// recently used on (the file LRU); unevictable the mlocked ones,
	// which it skips until a mapping of the file goes.
	lru, unevictable lruList
	// The read-ahead window last read (file_ra_state, which Linux keeps
	// per open file; the model keeps one per file): its first page, its
	// length and the length of its tail read asynchronously.
	ra struct{ start, size, async uint64 }
	// free lists entries dropped from the cache, linked by next, for the
	// pages added later: a file read through a memory limit far below
	// its size drops and adds a page for each one it reads.
	free *cachePage
}

// cacheSlab is how many entries a file allocates at once when none is free.
const cacheSlab = 16

// newEntryLocked returns a cache entry for page, a free one if there is.
// Preconditions: f.mu.
func (f *File) newEntryLocked(page *phys.Page) *cachePage {
	c := f.free
	if c == nil {
		slab := new([cacheSlab]cachePage)
		for i := 1; i < cacheSlab-1; i++ {
			slab[i].next = &slab[i+1]
		}
		f.free = &slab[1]
		c = &slab[0]
	} else {
		f.free = c.next
	}
	*c = cachePage{page: page}
	return c
}

// NewFile creates a file of size bytes, every byte fill, all of it in the
// page cache as after write(2), on a disk reading raPages pages ahead.
func NewFile(name string, size uint64, fill byte, alloc *phys.Allocator, disk *Disk, raPages uint64) *File {
	f := &File{name: name, alloc: alloc, disk: disk, raPages: raPages, size: size, fill: fill, fillEnd: size,
		shift: alloc.PageShift(), psize: alloc.PageSize(),
		blocks: map[uint64][]byte{}}
	f.hotEnd = f.pagesOf(size)
	return f
}

// pagesOf returns the pages size bytes of the file take.
func (f *File) pagesOf(size uint64) uint64 { return (size + f.psize - 1) >> f.shift }

// ReadAheadPages returns the read-ahead window, in pages (ra_pages).
func (f *File) ReadAheadPages() uint64 { return f.raPages }

// Size returns i_size.
func (f *File) Size() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.size
}

// Name implements mm.VMOperations.
func (f *File) Name() string { return f.name }

// WantsWriteNotify implements mm.WriteNotifier: the file system has a
// ->page_mkwrite, so shared writable mappings start write-protected.
func (f *File) WantsWriteNotify() bool { return true }

// PlacesTHP implements mm.THPPlacer: an ext4-like file system places its
// mappings with thp_get_unmapped_area.
func (f *File) PlacesTHP() bool { return true }

// Open implements mm.VMOperations: v maps the file.
func (f *File) Open(v *mm.VMA) {
	f.mu.Lock()
	f.vmas = append(f.vmas, v)
	f.mu.Unlock()
}

// Close implements mm.VMOperations. The pages v kept unevictable may be
// evictable now: reclaim looks at them again.
func (f *File) Close(v *mm.VMA) {
	f.mu.Lock()
	if i := slices.Index(f.vmas, v); i >= 0 {
		f.vmas = slices.Delete(f.vmas, i, i+1)
	}
	f.evictableAgainLocked()
	f.mu.Unlock()
}

func (f *File) isHeld() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held
}

// diskPage copies page idx as the disk holds it into frame dst: a page
// all of the fill, or all zeros, shares its contents (phys.Page.Fill).
// Preconditions: f.mu.
func (f *File) diskPage(idx uint64, dst *phys.Page) {
	if b := f.blocks[idx]; b != nil {
		copy(dst.Data(), b)
		return
	}
	start := idx << f.shift
	switch n := min(f.fillEnd-min(f.fillEnd, start), f.psize); n {
	case f.psize:
		dst.Fill(f.fill)
	case 0:
		dst.Fill(0)
	default:
		d := dst.Data()
		phys.FillBytes(d[:n], f.fill)
		clear(d[n:])
	}
}

// cached returns the page-cache entry for idx, making the frame of a hot
// page on first use (no I/O: it is in the cache). A hot page was written by
// a writer in the root memory cgroup, which has no limit (WriteAll makes a
// limited writer's pages at once, charged to its group): its frame is
// charged to nobody, whoever faults it first. Preconditions: f.mu.
func (f *File) cached(idx uint64) (*cachePage, error) {
	if c := f.cache.get(idx); c != nil {
		return c, nil
	}
	if idx >= f.hotEnd || idx >= f.pagesOf(f.size) {
		return nil, nil
	}
	page, err := f.alloc.Alloc(0)
	if err != nil {
		return nil, errNoMemory
	}
	f.diskPage(idx, page)
	page.SetFlags(phys.FlagDirty)
	c := f.newEntryLocked(page)
	c.uptodate = true
	f.addLocked(idx, c)
	return c, nil
}

// complete ends the read of page idx: the data arrives and the page is
// unlocked.
func (f *File) complete(idx uint64, c *cachePage) {
	f.mu.Lock()
	f.diskPage(idx, c.page)
	c.uptodate, c.locked = true, false
	ev := c.unlock
	f.mu.Unlock()
	if ev != nil {
		ev.Fire()
	}
}

// Fault implements Backing (filemap_fault): beyond the end of the file,
// SIGBUS; a cached page is returned at once; an uncached one is read from
// the disk (a major fault), and the fault lock is dropped while waiting for
// it on a first attempt, which then returns VM_FAULT_RETRY so that the
// fault is retried and finds the page cached.
func (f *File) Fault(vmf *Fault) vmfault.Reason {
	var ret vmfault.Reason
	for {
		f.mu.Lock()
		if vmf.PgOff >= f.pagesOf(f.size) {
			f.mu.Unlock()
			vmf.tr.Step("filemap_fault", "beyond the end of the file: VM_FAULT_SIGBUS")
			return vmfault.SigBus
		}
		c, err := f.cached(vmf.PgOff)
		if err != nil {
			f.mu.Unlock()
			vmf.tr.Step("filemap_fault", "no page for the cache: VM_FAULT_OOM")
			return vmfault.OOM
		}
		if c == nil {
			// Not in the cache: read it, and its neighbours
			// (do_sync_mmap_readahead), a major fault.
			f.mu.Unlock()
			vmf.tr.Step("filemap_fault", "not in the page cache: read it (do_sync_mmap_readahead), a major fault")
			ret |= vmfault.Major
			if !f.readAround(vmf) {
				return vmfault.OOM
			}
			continue
		}
		if c.readahead && !c.locked && vmf.Flags&vmfault.FlagTried == 0 {
			// The marked page of a window: read the next one while
			// this fault goes on (do_async_mmap_readahead).
			c.readahead = false
			start, n, ok := f.nextWindow(vmf.PgOff)
			f.mu.Unlock()
			if ok && vmf.VMA.Flags&mm.VMRandRead == 0 {
				if vmf.tr.On() {
					vmf.tr.Step("do_async_mmap_readahead", fmt.Sprintf("the read-ahead mark: read %d pages from page %d", n, start))
				}
				f.readPages(vmf.Task, start, n, start, noPage)
				f.disk.Run()
			}
			continue
		}
		if !c.locked {
			if c.page.Has(phys.FlagHWPoison) {
				f.mu.Unlock()
				vmf.tr.Step("filemap_fault", "the cached page is poisoned: VM_FAULT_HWPOISON")
				return vmfault.HWPoison
			}
			c.page.Get()
			f.touchLocked(vmf.PgOff, c) // folio_mark_accessed
			vmf.Page = c.page
			f.mu.Unlock()
			vmf.tr.Step("filemap_fault", "the page is cached and up to date")
			return ret
		}
		if c.unlock == nil {
			c.unlock = sched.NewEvent()
		}
		ev := c.unlock
		f.mu.Unlock()
		vmf.tr.Step("filemap_fault", "the page is locked: its read is in flight")
		if r, done := vmf.waitPage(ev, f.disk); done {
			return ret | r
		}
		// Waited with the lock held (a retried fault): look again, the
		// page may have been truncated meanwhile.
	}
}

// readAround starts reading the missing page of vmf and, unless the VMA
// was advised random, the read-around window of raPages pages centred on it
// (do_sync_mmap_readahead), up to the end of the file; the page a quarter
// of the window from its end is marked for asynchronous read-ahead. It
// reports false when the faulting page got no frame.
func (f *File) readAround(vmf *Fault) bool {
	if vmf.VMA.Flags&mm.VMRandRead != 0 || f.raPages <= 1 {
		if vmf.tr.On() {
			vmf.tr.Step("page_cache_sync_ra", fmt.Sprintf("submit the read of page %d alone", vmf.PgOff))
		}
		return f.readPages(vmf.Task, vmf.PgOff, 1, noPage, vmf.PgOff)
	}
	start := vmf.PgOff - min(vmf.PgOff, f.raPages/2)
	if vmf.tr.On() {
		vmf.tr.Step("page_cache_sync_ra", fmt.Sprintf("submit the read of pages %d-%d around page %d", start, start+f.raPages-1, vmf.PgOff))
	}
	f.mu.Lock()
	f.ra.start, f.ra.size, f.ra.async = start, f.raPages, f.raPages/4
	f.mu.Unlock()
	return f.readPages(vmf.Task, start, f.raPages, start+f.raPages-f.raPages/4, vmf.PgOff)
}

// nextWindow is the read-ahead window that a hit on the marked page idx
// starts (page_cache_async_ra): the one after the last, ramped up, when
// idx is where that window put its mark; otherwise one starting at the
// first page missing after idx. Preconditions: f.mu.
func (f *File) nextWindow(idx uint64) (start, n uint64, ok bool) {
	max := f.raPages
	if max == 0 {
		return 0, 0, false
	}
	if f.ra.size > 0 && idx == f.ra.start+f.ra.size-f.ra.async {
		start, n = f.ra.start+f.ra.size, nextRASize(f.ra.size, max)
	} else {
		start = idx + 1
		for start-idx <= max && f.cache.get(start) != nil {
			start++
		}
		if start-idx > max {
			return 0, 0, false
		}
		n = nextRASize(start-idx+1, max)
	}
	f.ra.start, f.ra.size, f.ra.async = start, n, n
	return start, n, true
}

// nextRASize ramps a read-ahead window up toward max (get_next_ra_size).
func nextRASize(cur, max uint64) uint64 {
	switch {
	case cur < max/16:
		return 4 * cur
	case cur <= max/2:
		return 2 * cur
	}
	return max
}

// noPage is a page index that names no page.
const noPage = ^uint64(0)

// readPages starts reading the pages of [start, start+n) that are not
// cached, up to the end of the file, marking page mark for read-ahead.
// Frames are allocated and charged without f.mu, as
// page_cache_ra_unbounded allocates before it inserts: charging may
// reclaim this very file. The frame of page must is charged like any
// allocation (it may OOM); the others are best effort (__GFP_NORETRY). It
// reports false when page must got no frame.
func (f *File) readPages(t Faulter, start, n, mark, must uint64) bool {
	f.mu.Lock()
	end := min(start+n, f.pagesOf(f.size))
	var wantBuf [64]uint64 // a read-ahead window, without an allocation
	want := wantBuf[:0]
	for idx := start; idx < end; idx++ {
		if f.cache.get(idx) == nil {
			want = append(want, idx)
		}
	}
	f.mu.Unlock()

	// The page the fault needs first, so that its neighbours never take
	// the last of the memory limit from it.
	var pagesBuf [64]*phys.Page
	var pages []*phys.Page
	if len(want) > len(pagesBuf) {
		pages = make([]*phys.Page, len(want))
	} else {
		pages = pagesBuf[:len(want)]
	}
	for i, idx := range want {
		if idx == must {
			if pages[i] = allocPage(t, f.alloc, 0); pages[i] == nil {
				return false
			}
		}
	}
	for i, idx := range want {
		if idx != must {
			pages[i] = allocPageNoRetry(t, f.alloc)
		}
	}

	f.mu.Lock()
	for i, idx := range want {
		page := pages[i]
		if page == nil || f.cache.get(idx) != nil || idx >= f.pagesOf(f.size) {
			continue // raced with another reader or a truncate
		}
		c := f.newEntryLocked(page)
		c.locked, c.readahead = true, idx == mark
		f.addLocked(idx, c)
		f.disk.submit(f, idx, c)
		pages[i] = nil
	}
	f.mu.Unlock()
	putAll(pages)
	return true
}

// putAll drops the pages that were not used.
func putAll(pages []*phys.Page) {
	for _, p := range pages {
		if p != nil {
			p.Put()
		}
	}
}

// waitPage waits for a page lock (lock_folio_maybe_drop_mmap). On a
// first attempt that may retry, the fault lock is dropped for the wait and
// the fault ends with VM_FAULT_RETRY. On a retry the lock is kept; a fatal
// signal while waiting drops it and ends the fault with VM_FAULT_RETRY.
// It reports whether the fault ended, with what.
func (vmf *Fault) waitPage(ev *sched.Event, d ioRunner) (vmfault.Reason, bool) {
	mode := sched.Uninterruptible
	if vmf.Flags&vmfault.FlagKillable != 0 {
		mode = sched.Killable
	}
	if vmf.Flags.AllowRetryFirst() && vmf.Flags&vmfault.FlagRetryNowait == 0 {
		if vmf.tr.On() {
			vmf.tr.Step("lock_folio_maybe_drop_mmap", "a first attempt: drop the "+vmf.lockName()+", wait "+mode.String()+" for the page, then VM_FAULT_RETRY")
		}
		vmf.releaseLock()
		d.Run()
		vmf.Task.Sleep(ev, mode)
		return vmfault.Retry, true
	}
	if vmf.tr.On() {
		vmf.tr.Step("lock_folio_maybe_drop_mmap", "a retry: wait "+mode.String()+" for the page, holding the "+vmf.lockName())
	}
	d.Run()
	if !vmf.Task.Sleep(ev, mode) {
		vmf.tr.Step("lock_folio_maybe_drop_mmap", "a fatal signal ended the wait: the lock is dropped, VM_FAULT_RETRY")
		vmf.releaseLock()
		return vmfault.Retry, true
	}
	return 0, false
}

// ioRunner completes pending I/O: the disk or the swap device.
type ioRunner interface{ Run() }

// lockName names the lock the fault holds, for the trace.
func (vmf *Fault) lockName() string {
	if vmf.Flags&vmfault.FlagVMALock != 0 {
		return "VMA lock"
	}
	return "mmap lock"
}

// releaseLock drops the lock the fault holds (release_fault_lock).
func (vmf *Fault) releaseLock() {
	mm.ReleaseFaultLock(vmf.VMA, vmf.Flags&vmfault.FlagVMALock != 0)
}

// CachedPage returns, with a reference, the page at pgoff if it is in the
// cache, up to date, unlocked, not marked for read-ahead and inside the
// file: what fault-around may map without I/O (filemap_map_pages).
func (f *File) CachedPage(pgoff uint64, t Faulter) *phys.Page {
	f.mu.Lock()
	if pgoff >= f.pagesOf(f.size) {
		f.mu.Unlock()
		return nil
	}
	c, err := f.cached(pgoff)
	if err != nil || c == nil || c.locked || !c.uptodate || c.readahead || c.page.Has(phys.FlagHWPoison) {
		f.mu.Unlock()
		return nil // a marked page is left for its fault to start read-ahead
	}
	c.page.Get()
	f.touchLocked(pgoff, c) // its young entry will tell reclaim
	f.mu.Unlock()
	return c.page
}

// PageMkwrite implements the file system's ->page_mkwrite: the page will
// be written through a shared mapping. It reports whether the page was
// clean (folio_mark_dirty returned true).
func (f *File) PageMkwrite(p *phys.Page) bool {
	if p.Has(phys.FlagDirty) {
		return false
	}
	p.SetFlags(phys.FlagDirty)
	return true
}

// Truncate sets the file's size (truncate(2)). Pages entirely beyond the
// new end leave the page cache and every mapping, private copy-on-write
// copies included (truncate_pagecache); the tail of a partial last page
// reads as zeros. t is the task truncating, which may sleep for the
// address-space locks.
func (f *File) Truncate(t sched.Sleeper, size uint64) {
	f.mu.Lock()
	old := f.size
	f.size = size
	if size < f.fillEnd {
		f.fillEnd = size
	}
	var drop []*phys.Page
	keep := f.pagesOf(size)
	f.hotEnd = min(f.hotEnd, keep)
	if size < old {
		f.cache.each(keep, func(_ uint64, c *cachePage) bool {
			if !c.locked {
				drop = append(drop, c.page)
				f.dropLocked(c)
			}
			return true
		})
		for idx := range f.blocks {
			if idx >= keep {
				delete(f.blocks, idx)
			}
		}
	}
	// The bytes past the end of a partial last page are zero, in the cache
	// and on the disk, whether the file shrank or grows again
	// (truncate_pagecache); a file that grows zeroes what was past its old
	// end in that page too, where ext4 zeroes the partial block at the old
	// size before exposing it (ext4GrowZeroSince).
	f.zeroTail(size)
	if size > old && f.disk.growZeroesOldTail {
		f.zeroTail(old)
	}
	var vmas []*mm.VMA
	if size < old {
		vmas = slices.Clone(f.vmas)
	}
	f.mu.Unlock()
	for _, p := range drop {
		p.Put()
	}
	for _, v := range vmas {
		mm.ZapBackingRange(t, v, keep)
	}
}

// WriteAll puts every page of the file in the page cache now, dirty, as
// the write(2) that filled it leaves them, each charged to the writer's
// memory cgroup as filemap_add_folio charges current's: over the limit
// the charge reclaims (this file's earlier pages too, written back) and
// may end in the OOM killer. A writer in the root group (no MemCG) needs
// none of that: the pages stay hot, made when first used. It reports
// false when a page got no memory or the writer is dying, as
// generic_perform_write stops on a failed folio or a fatal signal.
func (f *File) WriteAll(t Faulter) bool {
	if t.MemCG() == nil {
		return true
	}
	f.mu.Lock()
	f.hotEnd = 0
	n := f.pagesOf(f.size)
	f.mu.Unlock()
	return f.WritePages(t, 0, n)
}

// WritePages writes pages [start, end) through the page cache (write(2),
// generic_perform_write): each page not cached is allocated and charged
// to t's memory cgroup without f.mu, as reclaim may take this file's own
// pages, then added dirty with the file's contents. It reports false when
// a page got no memory or t is dying.
func (f *File) WritePages(t Faulter, start, end uint64) bool {
	for idx := start; idx < end; idx++ {
		if t.FatalSignalPending() {
			return false
		}
		page := allocPage(t, f.alloc, 0)
		if page == nil {
			return false
		}
		f.mu.Lock()
		if c := f.cache.get(idx); c != nil || idx >= f.pagesOf(f.size) {
			if c != nil && !c.locked {
				c.page.SetFlags(phys.FlagDirty)
			}
			f.mu.Unlock()
			page.Put()
			continue
		}
		f.diskPage(idx, page)
		page.SetFlags(phys.FlagDirty)
		c := f.newEntryLocked(page)
		c.uptodate = true
		f.addLocked(idx, c)
		f.mu.Unlock()
	}
	return true
}

// Rewrite fills an empty file with size bytes of fill, in the page cache
// as write(2) leaves them (the file was just truncated to nothing).
func (f *File) Rewrite(size uint64, fill byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.size, f.fill, f.fillEnd, f.hotEnd = size, fill, size, f.pagesOf(size)
	clear(f.blocks)
}

// zeroTail zeroes the bytes from size to the end of its page, when size
// is inside a page, in the cache and on the disk. Preconditions: f.mu.
func (f *File) zeroTail(size uint64) {
	tail := size & (f.psize - 1)
	if tail == 0 {
		return
	}
	last := size >> f.shift
	if c := f.cache.get(last); c != nil && c.uptodate {
		c.page.FillRange(tail, f.psize-tail, 0)
	}
	if b := f.blocks[last]; b != nil {
		clear(b[tail:])
	}
}

// Evict writes the file's dirty pages back and drops every page no
// mapping uses, so that the next fault on one needs I/O (fsync, then
// POSIX_FADV_DONTNEED). Mapped pages are cleaned in every mapping first
// (folio_clear_dirty_for_io), so that a later write through one faults
// and dirties the page again. t is the task evicting, which may sleep for
// the address-space locks.
func (f *File) Evict(t sched.Sleeper) {
	for _, mp := range f.mappedPages() {
		for _, v := range mp.vmas {
			if mm.MkcleanPage(t, v, mp.idx, mp.page) {
				mp.page.SetFlags(phys.FlagDirty)
			}
		}
		mp.page.Put()
	}
	f.mu.Lock()
	var drop []*phys.Page
	f.cache.each(0, func(_ uint64, c *cachePage) bool {
		if c.locked {
			return true
		}
		f.writeback(c)
		if c.page.MapCount() == 0 {
			drop = append(drop, c.page)
			f.dropLocked(c)
		}
		return true
	})
	f.hotEnd = 0
	f.mu.Unlock()
	for _, p := range drop {
		p.Put()
	}
}

// mappedPage is a cached page some mapping may map, with a reference,
// and the file's mappings when it was found.
type mappedPage struct {
	idx  uint64
	page *phys.Page
	vmas []*mm.VMA
}

// mappedPages lists the cached pages that are mapped somewhere.
func (f *File) mappedPages() []mappedPage {
	f.mu.Lock()
	defer f.mu.Unlock()
	vmas := slices.Clone(f.vmas)
	var out []mappedPage
	f.cache.each(0, func(idx uint64, c *cachePage) bool {
		if c.page.MapCount() > 0 {
			c.page.Get()
			out = append(out, mappedPage{idx: idx, page: c.page, vmas: vmas})
		}
		return true
	})
	return out
}

// writeback writes cached page c to the disk if it is dirty, and cleans
// it. The bytes past the end of the file in a last partial page are
// zeroed in the page itself, as a file system's writepages does to the
// folio straddling i_size. Preconditions: f.mu.
func (f *File) writeback(c *cachePage) {
	idx, p := c.idx, c.page
	if !p.Has(phys.FlagDirty) {
		return
	}
	if idx == f.size>>f.shift {
		tail := f.size & (f.psize - 1)
		p.FillRange(tail, f.psize-tail, 0)
	}
	// A page that holds what the file was filled with needs no block of
	// its own (a file written and reclaimed whole keeps no copy of it).
	switch b := f.blocks[idx]; {
	case b != nil:
		copy(b, p.Contents())
	case !f.asFilled(idx, p):
		f.blocks[idx] = append([]byte(nil), p.Contents()...)
	}
	p.ClearFlags(phys.FlagDirty)
	f.listOf(c).markClean(c)
}

// zeros is a page of zeros (of the largest page size), never written.
var zeros [phys.MaxPageSize]byte

// asFilled reports whether frame p holds what the disk holds for page
// idx without a block: the fill below fillEnd, zeros above.
// Preconditions: f.mu.
func (f *File) asFilled(idx uint64, p *phys.Page) bool {
	start := idx << f.shift
	n := min(f.fillEnd-min(f.fillEnd, start), f.psize)
	if v, ok := p.Uniform(); ok {
		return (n == 0 || v == f.fill) && (n == f.psize || v == 0)
	}
	if f.fillRef == nil || f.fillRef[0] != f.fill {
		f.fillRef = make([]byte, f.psize)
		phys.FillBytes(f.fillRef, f.fill)
	}
	data := p.Contents()
	return bytes.Equal(data[:n], f.fillRef[:n]) && bytes.Equal(data[n:], zeros[n:f.psize])
}

// addLocked puts c in the cache as page idx, the most recently used.
// Preconditions: f.mu.
func (f *File) addLocked(idx uint64, c *cachePage) {
	c.idx = idx
	c.mayBeClean = !c.page.Has(phys.FlagDirty)
	f.cache.set(idx, c)
	c.used = f.disk.clock.Add(1)
	f.listOf(c).pushBack(c)
}

// dropLocked takes c out of the cache. An entry not under I/O (which
// nothing but the cache refers to) is free for the next page added: c
// must not be used afterwards. Preconditions: f.mu.
func (f *File) dropLocked(c *cachePage) {
	f.cache.del(c.idx)
	f.listOf(c).remove(c)
	if !c.locked {
		*c = cachePage{next: f.free}
		f.free = c
	}
}

// listOf returns the list c is on. Preconditions: f.mu.
func (f *File) listOf(c *cachePage) *lruList {
	if c.mlocked {
		return &f.unevictable
	}
	return &f.lru
}

// touchLocked stamps cached page idx as just used and moves it to the
// young end of its list. Preconditions: f.mu.
func (f *File) touchLocked(idx uint64, c *cachePage) {
	l := f.listOf(c)
	l.remove(c)
	c.used = f.disk.clock.Add(1)
	l.pushBack(c)
}

// unevictableLocked moves c, which an mlocked VMA maps, to the
// unevictable list. Preconditions: f.mu.
func (f *File) unevictableLocked(c *cachePage) {
	if c.mlocked {
		return
	}
	f.lru.remove(c)
	c.mlocked = true
	// Its place there is its stamp's: the list stays in stamp order.
	var at *cachePage
	for at = f.unevictable.tail; at != nil && at.used > c.used; at = at.prev {
	}
	f.unevictable.insertAfter(at, c)
}

// evictableAgainLocked puts the unevictable pages back on the LRU, each
// at its stamp's place, when a mapping of the file goes: reclaim looks at
// them again. Preconditions: f.mu.
func (f *File) evictableAgainLocked() {
	var merged lruList
	a, b := f.lru.head, f.unevictable.head
	for a != nil || b != nil {
		var c *cachePage
		if b == nil || a != nil && a.used < b.used {
			c, a = a, a.next
		} else {
			c, b = b, b.next
		}
		c.mlocked = false
		merged.pushBack(c)
	}
	f.lru, f.unevictable = merged, lruList{}
}

// Reclaimable is a page-cache page reclaim may take: its file, index and
// when it was last used.
type Reclaimable struct {
	File  *File
	Index uint64
	Used  uint64
}

// oldest returns up to k of the file's pages charged to cg that reclaim
// may take, clean or dirty ones as dirty says, least recently used first.
func (f *File) oldest(cg *phys.MemCG, dirty bool, k int) []Reclaimable {
	return f.appendOldest(nil, cg, dirty, k)
}

// appendOldest is oldest appending to out. Looking for clean pages it
// walks the sublist of those that may be, and drops from it each one
// dirtied since (through a mapping): dirty until written back.
func (f *File) appendOldest(out []Reclaimable, cg *phys.MemCG, dirty bool, k int) []Reclaimable {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(out) + k
	if !dirty {
		for c := f.lru.cleanHead; c != nil && len(out) < n; {
			next := c.cnext
			if c.page.Has(phys.FlagDirty) {
				f.lru.markDirty(c)
			} else if f.reclaimableLocked(c, cg) {
				out = append(out, Reclaimable{File: f, Index: c.idx, Used: c.used})
			}
			c = next
		}
		return out
	}
	for c := f.lru.head; c != nil && len(out) < n; c = c.next {
		if f.reclaimableLocked(c, cg) && c.page.Has(phys.FlagDirty) {
			out = append(out, Reclaimable{File: f, Index: c.idx, Used: c.used})
		}
	}
	return out
}

// reclaimableLocked reports whether reclaim may take page c: up to date,
// not under I/O, not poisoned, not mlocked, charged to cg, and used by
// nobody in passing (a fault about to map it). Preconditions: f.mu.
func (f *File) reclaimableLocked(c *cachePage, cg *phys.MemCG) bool {
	p := c.page
	return !c.locked && !c.mlocked && c.uptodate && !p.Has(phys.FlagHWPoison) && p.MemCG() == cg &&
		p.Refs() == 1+p.MapCount()
}

// Reclaim takes page idx out of the cache if it is still reclaimable
// (shrink_folio_list for one folio): a mapped page is first unmapped from
// every VMA of the file (try_to_unmap through i_mmap), which tells whether
// a mapping dirtied it; a dirty page is written back when dirty allows it.
// A page still mapped somewhere (mlocked, or its mm busy) stays. It
// reports whether the page went.
func (f *File) Reclaim(cg *phys.MemCG, idx uint64, dirty bool) bool {
	f.mu.Lock()
	c := f.cache.get(idx)
	if c == nil || !f.reclaimableLocked(c, cg) || c.page.Has(phys.FlagDirty) && !dirty {
		f.mu.Unlock()
		return false
	}
	p := c.page
	if p.MapCount() > 0 {
		for _, v := range f.vmas {
			if mm.TryUnmapPage(v, idx, p) == mm.Mlocked {
				f.unevictableLocked(c) // until a mapping of the file goes
			}
		}
	}
	if p.MapCount() != 0 || p.Refs() != 1 || p.Has(phys.FlagDirty) && !dirty {
		f.mu.Unlock()
		return false
	}
	f.writeback(c)
	f.dropLocked(c)
	f.mu.Unlock()
	p.Put()
	return true
}

// candidates holds ReclaimFiles' buffers: it runs for every batch a
// charge over the limit reclaims.
var candidates = sync.Pool{New: func() any { return new([]Reclaimable) }}

// ReclaimFiles drops up to n page-cache pages of files charged to cg, the
// least recently used first: clean pages, then dirty ones, written back.
// Each round looks at the k oldest candidates of every file, and at twice
// as many when too few of them could go. It reports how many it dropped.
func ReclaimFiles(files []*File, cg *phys.MemCG, n int64) int64 {
	var freed int64
	buf := candidates.Get().(*[]Reclaimable)
	cands := (*buf)[:0]
	defer func() {
		clear(cands)
		*buf = cands[:0]
		candidates.Put(buf)
	}()
	for _, dirty := range []bool{false, true} {
		for k := int(2 * n); freed < n; k *= 2 {
			cands = cands[:0]
			more := false
			for _, f := range files {
				before := len(cands)
				cands = f.appendOldest(cands, cg, dirty, k)
				more = more || len(cands)-before == k
			}
			slices.SortFunc(cands, func(a, b Reclaimable) int { return cmp.Compare(a.Used, b.Used) })
			for _, c := range cands {
				if freed >= n {
					break
				}
				if c.File.Reclaim(cg, c.Index, dirty) {
					freed++
				}
			}
			if !more {
				break
			}
		}
	}
	return freed
}

// DropClean takes page p out of the file's page cache if it is there, up
// to date, clean and not under I/O (the truncation memory_failure does to
// a clean page); its mappings are the caller's to clear. It reports
// whether it did.
func (f *File) DropClean(p *phys.Page) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	dropped := false
	f.cache.each(0, func(_ uint64, c *cachePage) bool {
		if c.page != p {
			return true
		}
		if !c.locked && c.uptodate && !p.Has(phys.FlagDirty) {
			f.dropLocked(c)
			p.Put()
			dropped = true
		}
		return false
	})
	return dropped
}

// Hold stalls (true) or resumes (false) the disk reads of the file; resuming
// completes the reads that were waiting.
func (f *File) Hold(held bool) {
	f.mu.Lock()
	f.held = held
	f.mu.Unlock()
	if !held {
		f.disk.Run()
	}
}

// Release drops the page cache, when the file is deleted at the end of a
// run: no mapping may remain.
func (f *File) Release() {
	f.mu.Lock()
	var drop []*phys.Page
	f.cache.each(0, func(_ uint64, c *cachePage) bool {
		drop = append(drop, c.page)
		f.dropLocked(c)
		return true
	})
	f.mu.Unlock()
	for _, p := range drop {
		p.Put()
	}
}
