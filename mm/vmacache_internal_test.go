package mm

import "testing"

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
