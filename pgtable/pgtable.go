// Package pgtable models multi-level page tables whose shape follows the
// base page size (a Geometry): 512 entries per table over 4 KiB pages, as
// x86_64 (4 or 5 levels), riscv64 (Sv48, Sv57) and arm64 use them, and
// arm64's 2048-entry tables over 16 KiB pages and 8192-entry tables over
// 64 KiB pages, whose top table may be smaller.
//
// A PTE is one 64-bit entry in faultline's own encoding: present entries
// carry a frame number and permission bits; non-present entries are empty,
// swap entries, or PTE markers (guard, uffd-wp, poison). How the permission
// bits are derived from a VMA (the protection map) and how the MMU reads
// them is each architecture's business.
//
// Entries are read and written atomically: the hardware walk (the MMU, and
// lock_vma_under_rcu-style readers) reads without locks, while writers hold
// the table's lock (the split page-table lock) or the page-table
// allocation lock.
package pgtable

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/faultline/faultline/phys"
)

// Geometry is the shape of an address space's page tables: the base page
// (PAGE_SHIFT), the index bits of every table below the top (a table is
// one page of 8-byte entries: PAGE_SHIFT-3 bits), the depth, and the
// index bits of the top table, which translates what is left of the
// virtual-address width (PTRS_PER_PGD).
type Geometry struct {
	PageShift uint
	Bits      uint // index bits of a table below the top
	Levels    int
	TopBits   uint // index bits of the top table
}

// Std returns the 4 KiB-page geometry of the given depth: 512-entry
// tables throughout, as x86_64, riscv64 and arm64 with 4 KiB pages have.
func Std(levels int) Geometry {
	return Geometry{PageShift: 12, Bits: 9, Levels: levels, TopBits: 9}
}

// ForVA returns the geometry of vaBits-wide addresses over 1<<pageShift
// byte pages with the given depth (arm64: 48-bit VA; 4 KiB 4 levels, 16
// KiB 4 levels with a 2-entry top, 64 KiB 3 levels with a 64-entry top;
// arch/arm64/include/asm/pgtable-hwdef.h, ARM64_HW_PGTABLE_LEVELS).
func ForVA(pageShift, vaBits uint, levels int) Geometry {
	bits := pageShift - 3
	return Geometry{PageShift: pageShift, Bits: bits, Levels: levels, TopBits: vaBits - pageShift - bits*uint(levels-1)}
}

// Valid reports whether g is a geometry the tables model.
func (g Geometry) Valid() bool {
	return (g.PageShift == 12 || g.PageShift == 14 || g.PageShift == 16) && g.Bits == g.PageShift-3 &&
		g.Levels >= 2 && g.Levels <= 5 && g.TopBits >= 1 && g.TopBits <= g.Bits
}

// VABits returns the number of virtual-address bits the tables translate.
func (g Geometry) VABits() uint { return g.PageShift + g.Bits*uint(g.Levels-1) + g.TopBits }

// Entries returns the entries of a table of the given level.
func (g Geometry) Entries(level int) int {
	if level == g.Levels {
		return 1 << g.TopBits
	}
	return 1 << g.Bits
}

// Shift returns where the address bits indexing a level-l table start.
func (g Geometry) Shift(level int) uint { return g.PageShift + g.Bits*uint(level-1) }

// Index returns addr's entry index in a table of the given level.
func (g Geometry) Index(addr uint64, level int) int {
	return int(addr>>g.Shift(level)) & (g.Entries(level) - 1)
}

// LevelSize returns the bytes one entry of a level-l table maps (at level
// 2, the PMD size: PAGE_SIZE times the entries of a PTE table).
func (g Geometry) LevelSize(level int) uint64 { return 1 << g.Shift(level) }

// PTE is one page-table entry.
type PTE uint64

// Present-entry bits.
const (
	Present  PTE = 1 << 0 // the MMU may use the entry
	Read     PTE = 1 << 1
	Write    PTE = 1 << 2
	Exec     PTE = 1 << 3
	User     PTE = 1 << 4 // user-mode accessible
	Accessed PTE = 1 << 5
	Dirty    PTE = 1 << 6
	Huge     PTE = 1 << 7 // a leaf above the last level
	Special  PTE = 1 << 8 // no page refcount behind it (the zero page)
	// ProtNone marks a mapped page whose VMA forbids every access
	// (mprotect PROT_NONE): Present is clear, the frame is kept.
	ProtNone PTE = 1 << 9
	UffdWP   PTE = 1 << 10 // write-protected for userfaultfd

	pkeyShift = 52
	// PKeyMask holds the protection key of the page (x86 bits 59-62;
	// here bits 52-55).
	PKeyMask PTE = 0xf << pkeyShift

	permMask = Read | Write | Exec | User | PKeyMask
	pfnShift = 12
	pfnMask  = PTE(1<<40-1) << pfnShift
)

// Non-present software entries.
const (
	swapBit   PTE = 1 << 62 // a swap entry: type and offset follow
	markerBit PTE = 1 << 61 // a PTE marker: Marker bits follow in bits 1..7
)

// Marker is a set of PTE marker bits (pte_marker).
type Marker uint8

// PTE markers.
const (
	MarkerUffdWP   Marker = 1 << 0 // PTE_MARKER_UFFD_WP
	MarkerPoisoned Marker = 1 << 1 // PTE_MARKER_POISONED
	MarkerGuard    Marker = 1 << 2 // PTE_MARKER_GUARD
)

// MkPTE makes a present entry for frame pfn with permission bits prot.
func MkPTE(pfn phys.PFN, prot PTE) PTE {
	return PTE(pfn)<<pfnShift&pfnMask | prot&^pfnMask | Present
}

// MkMarker makes a marker entry.
func MkMarker(m Marker) PTE { return markerBit | PTE(m)<<1 }

// MkSwap makes a swap entry of the given type and offset.
func MkSwap(typ uint8, offset uint64) PTE {
	return swapBit | PTE(typ&0x1f)<<56 | PTE(offset)<<pfnShift&pfnMask
}

// PKeyBits returns the PTE bits for protection key k.
func PKeyBits(k int) PTE { return PTE(k&0xf) << pkeyShift }

// PKey returns the entry's protection key.
func (p PTE) PKey() int { return int(p&PKeyMask) >> pkeyShift }

// None reports whether the entry is empty (pte_none).
func (p PTE) None() bool { return p == 0 }

// Present reports whether the MMU may use the entry.
func (p PTE) Present() bool { return p&Present != 0 }

// Mapped reports whether the entry maps a frame, accessible or not
// (present, or PROT_NONE).
func (p PTE) Mapped() bool { return p&(Present|ProtNone) != 0 }

// PFN returns the frame of a mapped entry.
func (p PTE) PFN() phys.PFN { return phys.PFN((p & pfnMask) >> pfnShift) }

// Has reports whether every bit of b is set.
func (p PTE) Has(b PTE) bool { return p&b == b }

// Perm returns the permission bits.
func (p PTE) Perm() PTE { return p & permMask }

// WithPerm replaces the permission bits by perm.
func (p PTE) WithPerm(perm PTE) PTE { return p&^permMask | perm&permMask }

// IsMarker reports whether the entry is a PTE marker.
func (p PTE) IsMarker() bool { return !p.Mapped() && p&markerBit != 0 }

// Marker returns the marker bits of a marker entry.
func (p PTE) Marker() Marker {
	if !p.IsMarker() {
		return 0
	}
	return Marker(p>>1) & 0x7f
}

// IsSwap reports whether the entry is a swap entry.
func (p PTE) IsSwap() bool { return !p.Mapped() && p&swapBit != 0 }

// SwapType and SwapOffset decode a swap entry.
func (p PTE) SwapType() uint8 { return uint8(p>>56) & 0x1f }

// SwapOffset returns the swap slot of a swap entry.
func (p PTE) SwapOffset() uint64 { return uint64((p & pfnMask) >> pfnShift) }

func (p PTE) String() string {
	switch {
	case p.None():
		return "none"
	case p.IsMarker():
		var m []string
		mk := p.Marker()
		if mk&MarkerGuard != 0 {
			m = append(m, "guard")
		}
		if mk&MarkerPoisoned != 0 {
			m = append(m, "poison")
		}
		if mk&MarkerUffdWP != 0 {
			m = append(m, "uffd-wp")
		}
		return "marker(" + strings.Join(m, ",") + ")"
	case p.IsSwap():
		return fmt.Sprintf("swap(%d,%d)", p.SwapType(), p.SwapOffset())
	}
	bits := []struct {
		b PTE
		c byte
	}{{Read, 'r'}, {Write, 'w'}, {Exec, 'x'}, {User, 'u'}, {Accessed, 'a'}, {Dirty, 'd'}, {Special, 's'}, {UffdWP, 'W'}}
	var b strings.Builder
	for _, x := range bits {
		if p&x.b != 0 {
			b.WriteByte(x.c)
		} else {
			b.WriteByte('-')
		}
	}
	state := "present"
	if !p.Present() {
		state = "protnone"
	}
	return fmt.Sprintf("%s(pfn=%d,%s)", state, p.PFN(), b.String())
}

// Table is one page table of its geometry's entries (512 over 4 KiB
// pages). At level 1 (the PTE level) the entries are leaf PTEs; above,
// an entry points to the next table or, with Huge set, is a leaf itself.
// Only tables above level 1 have the array of pointers to the tables
// below: a PTE table, one per table's worth of resident pages, is its
// entries and a header.
type Table struct {
	level int
	// shift is where the bits of an address that index this table
	// start, and mask its entries less one: Index(addr, level) is
	// addr>>shift & mask. pageShift is the base page's: a huge leaf
	// translates the bits between the two.
	shift, pageShift uint8
	mask             uint32
	pageMask         uint64     // PAGE_MASK, for the fault path
	ptl              sync.Mutex // the split page-table lock: writers of entries hold it
	// entries points to mask+1 atomic.Uint64 entries (with the table
	// itself, in one allocation, over 4 KiB pages), next to as many
	// atomic.Pointer[Table] (nil at level 1): their length is the
	// table's, not a slice header's.
	entries unsafe.Pointer
	next    unsafe.Pointer
}

// table512 is a table of 4 KiB-page tables with its entries, allocated
// together.
type table512 struct {
	t Table
	e [512]atomic.Uint64
}

// newTable returns an empty table of the given level.
func newTable(g Geometry, level int) *Table {
	n := g.Entries(level)
	var t *Table
	if n == 512 {
		b := new(table512)
		t = &b.t
		t.entries = unsafe.Pointer(&b.e)
	} else {
		t = &Table{entries: unsafe.Pointer(unsafe.SliceData(make([]atomic.Uint64, n)))}
	}
	t.level, t.shift, t.pageShift, t.mask = level, uint8(g.Shift(level)), uint8(g.PageShift), uint32(n-1)
	t.pageMask = ^uint64(1<<g.PageShift - 1)
	if level > 1 {
		t.next = unsafe.Pointer(unsafe.SliceData(make([]atomic.Pointer[Table], n)))
	}
	return t
}

// slot returns entry i (taken modulo the table's entries: never outside it).
func (t *Table) slot(i int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Add(t.entries, uintptr(uint32(i)&t.mask)*8))
}

// child returns the slot of the table below entry i.
func (t *Table) child(i int) *atomic.Pointer[Table] {
	return (*atomic.Pointer[Table])(unsafe.Add(t.next, uintptr(uint32(i)&t.mask)*unsafe.Sizeof(atomic.Pointer[Table]{})))
}

// childFor returns the slot of the table below addr's entry: child(index(addr))
// with one mask.
func (t *Table) childFor(addr uint64) *atomic.Pointer[Table] {
	return (*atomic.Pointer[Table])(unsafe.Add(t.next, uintptr(uint32(addr>>(t.shift&63))&t.mask)*unsafe.Sizeof(atomic.Pointer[Table]{})))
}

// Slot is one entry of a table, found once for the several accesses a
// caller makes to it (its address computed once, not per access).
type Slot struct{ e *atomic.Uint64 }

// Slot returns entry i (taken modulo the table's entries).
func (t *Table) Slot(i int) Slot { return Slot{t.slot(i)} }

// Load reads the entry (ptep_get).
func (s Slot) Load() PTE { return PTE(s.e.Load()) }

// Store writes the entry (set_pte_at). Preconditions: the caller holds
// the table's lock.
func (s Slot) Store(p PTE) { s.e.Store(uint64(p)) }

// Len returns the table's number of entries.
func (t *Table) Len() int { return int(t.mask) + 1 }

// PageShift returns the base page's shift (PAGE_SHIFT), which the table
// keeps for the fault path.
func (t *Table) PageShift() uint { return uint(t.pageShift & 63) }

// PageMask returns PAGE_MASK, which the table keeps for the fault path.
func (t *Table) PageMask() uint64 { return t.pageMask }

// Index returns addr's entry index in t.
func (t *Table) Index(addr uint64) int { return t.index(addr) }

// Level returns the table's level (1 for a PTE table).
func (t *Table) Level() int { return t.level }

// Lock takes the table's page-table lock (pte_offset_map_lock).
func (t *Table) Lock() { t.ptl.Lock() }

// Unlock releases the page-table lock.
func (t *Table) Unlock() { t.ptl.Unlock() }

// Load reads entry i (ptep_get).
func (t *Table) Load(i int) PTE { return PTE(t.slot(i).Load()) }

// Store writes entry i (set_pte_at). Preconditions: the caller holds the lock.
func (t *Table) Store(i int, p PTE) { t.slot(i).Store(uint64(p)) }

// CompareAndSwap replaces entry i if it still holds old.
func (t *Table) CompareAndSwap(i int, old, new PTE) bool {
	return t.slot(i).CompareAndSwap(uint64(old), uint64(new))
}

// SetBits sets bits in entry i if it is present, as the MMU sets the
// accessed and dirty bits, and returns the entry as it was.
// Access is the end of a hardware walk that found entry i of t, a leaf
// that allows the access: the MMU sets the accessed bit, and the dirty bit
// for a write, as x86, arm64 (FEAT_HAFDBS) and riscv (Svadu) hardware
// does, and translates addr to its frame (in a huge leaf, the frame
// within it: the address bits between the page's and the table's).
func (t *Table) Access(i int, pte PTE, addr uint64, write bool) phys.PFN {
	bits := Accessed
	if write {
		bits |= Dirty
	}
	t.SetBits(i, bits)
	pfn := pte.PFN()
	if t.level == 2 {
		pfn += phys.PFN(addr>>(t.pageShift&63)) & (1<<((t.shift-t.pageShift)&63) - 1)
	}
	return pfn
}

func (t *Table) SetBits(i int, b PTE) PTE {
	e := t.slot(i)
	for {
		old := e.Load()
		if PTE(old)&Present == 0 || PTE(old)&b == b {
			return PTE(old)
		}
		if e.CompareAndSwap(old, old|uint64(b)) {
			return PTE(old)
		}
	}
}

// PageTable is one address space's page tables.
type PageTable struct {
	geo    Geometry
	levels int
	root   *Table
	mu     sync.Mutex // page_table_lock: guards allocation of tables
	tables atomic.Int64
}

// New returns empty 4 KiB-page tables of the given depth (Std): 4 or 5 as
// x86_64 and riscv64 use; 2 and 3 work too (the address range shrinks).
func New(levels int) *PageTable { return NewGeometry(Std(levels)) }

// NewGeometry returns empty page tables of geometry g.
func NewGeometry(g Geometry) *PageTable {
	if !g.Valid() {
		panic("pgtable: bad geometry")
	}
	pt := &PageTable{geo: g, levels: g.Levels, root: newTable(g, g.Levels)}
	pt.tables.Store(1)
	return pt
}

// Geometry returns the tables' shape.
func (pt *PageTable) Geometry() Geometry { return pt.geo }

// Levels returns the depth.
func (pt *PageTable) Levels() int { return pt.levels }

// VABits returns the number of virtual-address bits the tables translate.
func (pt *PageTable) VABits() uint { return pt.geo.VABits() }

// Tables returns how many tables exist.
func (pt *PageTable) Tables() int64 { return pt.tables.Load() }

// Lookup walks to the leaf entry for addr without locks or allocation, as
// the MMU walks: the PTE table's slot, or a huge leaf of a level-2 table
// (t.Level() tells). It returns nil when a table on the way is missing.
// Bits of addr above VABits are ignored: canonical-address checks are the
// architecture's.
func (pt *PageTable) Lookup(addr uint64) (*Table, int) {
	t := pt.root
	for t.level > 1 {
		i := t.index(addr)
		if t.level == 2 && PTE(t.slot(i).Load())&Huge != 0 {
			return t, i
		}
		n := t.child(i).Load()
		if n == nil {
			return nil, 0
		}
		t = n
	}
	return t, t.index(addr)
}

// Walk is Lookup for an MMU that reports where its walk stopped (arm64's
// fault status gives the level): the leaf entry for addr and true, or,
// when a table on the way is missing, the table whose entry for addr has
// nothing below it, that entry's index, and false.
func (pt *PageTable) Walk(addr uint64) (*Table, int, bool) {
	t := pt.root
	for t.level > 1 {
		i := t.index(addr)
		if t.level == 2 && PTE(t.slot(i).Load())&Huge != 0 {
			return t, i, true
		}
		n := t.child(i).Load()
		if n == nil {
			return t, i, false
		}
		t = n
	}
	return t, t.index(addr), true
}

// AllocHuge walks to the level-2 slot for addr, allocating missing tables
// above it (huge_pte_alloc). The slot holds a huge leaf, or nothing.
func (pt *PageTable) AllocHuge(addr uint64) (*Table, int) { return pt.allocTo(addr, 2) }

// Alloc walks to the PTE table for addr, allocating missing tables
// (pte_alloc). It never fails: table memory is not modeled as limited.
func (pt *PageTable) Alloc(addr uint64) (*Table, int) { return pt.allocTo(addr, 1) }

// index is Index(addr, t.level), from the shift the table keeps: a
// walk computes no shift per level.
func (t *Table) index(addr uint64) int {
	return int(uint32(addr>>(t.shift&63)) & t.mask)
}

// allocTo walks to addr's slot in the table of the given level, allocating
// the missing tables above it. Lookups are lockless; pt.mu only orders
// the installation of a new table.
func (pt *PageTable) allocTo(addr uint64, level int) (*Table, int) {
	t := pt.root
	for t.level > level {
		n := t.childFor(addr).Load()
		if n == nil {
			n = pt.allocNext(t, addr)
		}
		t = n
	}
	return t, t.index(addr)
}

// allocNext returns the table below t for addr, making it if no other
// walk has since (__pte_alloc and its siblings: allocated outside
// the walk's fast path, installed under page_table_lock).
func (pt *PageTable) allocNext(t *Table, addr uint64) *Table {
	slot := t.childFor(addr)
	pt.mu.Lock()
	defer pt.mu.Unlock()
	n := slot.Load()
	if n == nil {
		n = newTable(pt.geo, t.level-1)
		slot.Store(n)
		pt.tables.Add(1)
	}
	return n
}

// Range calls fn for every PTE slot in [start, end) whose PTE table
// exists, and for every huge leaf (a level-2 slot, t.Level() == 2), in
// address order, with the slot's address. It skips missing tables without
// visiting their slots, so sparse ranges cost what they map. fn returns
// false to stop.
func (pt *PageTable) Range(start, end uint64, fn func(addr uint64, t *Table, i int) bool) {
	pt.rangeTable(pt.root, 0, start, end, fn)
}

func (pt *PageTable) rangeTable(t *Table, base, start, end uint64, fn func(uint64, *Table, int) bool) bool {
	size := pt.geo.LevelSize(t.level)
	for i := 0; i < t.Len(); i++ {
		lo := base + uint64(i)*size
		hi := lo + size
		if hi <= start {
			continue
		}
		if lo >= end || lo < base { // past the range, or wrapped around
			return true
		}
		if t.level == 1 || t.level == 2 && PTE(t.slot(i).Load())&Huge != 0 {
			if !fn(lo, t, i) {
				return false
			}
			continue
		}
		if n := t.child(i).Load(); n != nil {
			if !pt.rangeTable(n, lo, start, end, fn) {
				return false
			}
		}
	}
	return true
}
