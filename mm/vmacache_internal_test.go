package mm

import (
	"testing"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
)

// TestVMACacheLookupSlots checks vmacache_find's order on a cache filled
// by hand: an entry is found from any address of its range, whichever
// slot the address hashes to (the hashed slot first, then the others in
// turn), and a stale or foreign cache finds nothing.
func TestVMACacheLookupSlots(t *testing.T) {
	const pmd = 1 << 21
	m, other := &MM{}, &MM{}
	a, b := &VMA{}, &VMA{}
	var c VMACache
	// a spans four PMDs (every slot's hash) and sits in slot 1; b is one
	// page, in slot 3.
	c.fill(m, 0, 5*pmd, a, 4*pmd, 8*pmd)
	c.fill(m, 0, 11*pmd, b, 11*pmd, 11*pmd+4096)
	if vmaCacheSlot(5*pmd) != 1 || vmaCacheSlot(11*pmd) != 3 {
		t.Fatal("the test's slots are not where it assumes")
	}
	for _, tc := range []struct {
		name string
		m    *MM
		addr uint64
		want *VMA
	}{
		{"a, its own slot", m, 5*pmd + 12345, a},
		{"a, hashed to slot 0", m, 4 * pmd, a},
		{"a, hashed to slot 2", m, 6 * pmd, a},
		{"a, hashed to slot 3 (b's)", m, 8*pmd - 1, a},
		{"b", m, 11*pmd + 4095, b},
		{"past b", m, 11*pmd + 4096, nil},
		{"below a", m, 4*pmd - 1, nil},
		{"another address space", other, 5 * pmd, nil},
	} {
		if got := c.lookup(tc.m, tc.addr); got != tc.want {
			t.Errorf("%s: lookup(%#x) = %p, want %p", tc.name, tc.addr, got, tc.want)
		}
	}
	m.vmaSeq.Add(1)
	if got := c.lookup(m, 5*pmd); got != nil {
		t.Errorf("a stale cache found %p", got)
	}
}

// holeArch is the least of an architecture an address space needs.
type holeArch struct{}

func (holeArch) PageProt(VMFlags, int) pgtable.PTE           { return 0 }
func (holeArch) TaskSize() uint64                            { return 1 << 47 }
func (holeArch) MmapBase() uint64                            { return 1 << 46 }
func (holeArch) AccessPermitted(*VMA, bool, bool, bool) bool { return true }
func (holeArch) MprotectPKey(Prot, int) int                  { return 0 }

// TestVMACacheHoles checks that FindVMACached caches a hole, from the
// end of the VMA below to the start of the one above, which it answers
// for every address of the hole, and nothing past the last VMA.
func TestVMACacheHoles(t *testing.T) {
	const pg = 4096
	cfg := config.Default()
	m := New(holeArch{}, &cfg, phys.NewAllocator())
	for _, a := range []uint64{0x100000, 0x110000} {
		if _, err := m.Mmap(sched.NoSleep{}, MapRequest{Addr: a, Length: pg, Prot: ProtRead, Flags: MapFixedNoReplace}); err != 0 {
			t.Fatal(err)
		}
	}
	m.MmapReadLock(sched.NoSleep{}, sched.Killable)
	defer m.MmapReadUnlock()
	var c VMACache
	above := m.FindVMACached(&c, 0x108000)
	if above == nil || above.Start != 0x110000 {
		t.Fatalf("FindVMACached in the hole: %v", above)
	}
	for _, tc := range []struct {
		addr uint64
		want *VMA
	}{
		{0x101000, above}, // the hole's first address, the end of the VMA below
		{0x10ffff, above}, // its last
		{0x100fff, nil},   // the VMA below: not cached
		{0x111000, nil},   // past the last VMA
	} {
		if got := c.lookup(m, tc.addr); got != tc.want {
			t.Errorf("lookup(%#x) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if v := m.FindVMACached(&c, 0x111000); v != nil {
		t.Fatalf("FindVMACached past the last VMA: %v", v)
	}
	if got := c.lookup(m, 0x111000); got != nil {
		t.Errorf("past the last VMA, lookup gave %v", got)
	}
	below := m.FindVMACached(&c, 0x1000) // below the first VMA: from 0
	if got := c.lookup(m, 0); below == nil || got != below {
		t.Errorf("below the first VMA: FindVMACached %v, lookup(0) %v", below, got)
	}
}
