package pgtable

import (
	"testing"
	"unsafe"
)

// TestLeafTablesHaveNoChildren: walking to an address makes every table
// on the way; only those above the PTE level carry the array of pointers
// to the tables below, so that a PTE table costs its page of entries and
// a header.
func TestLeafTablesHaveNoChildren(t *testing.T) {
	for _, levels := range []int{2, 4, 5} {
		pt := New(levels)
		leaf, _ := pt.Alloc(0x7f0000123000 & (1<<pt.VABits() - 1))
		for tb, addr := pt.root, uint64(0x7f0000123000&(1<<pt.VABits()-1)); ; {
			if (tb.next == nil) != (tb.level == 1) {
				t.Fatalf("%d levels: a level-%d table has child array %v", levels, tb.level, tb.next != nil)
			}
			if tb.level == 1 {
				if tb != leaf {
					t.Fatalf("%d levels: the walk ended at another PTE table than Alloc's", levels)
				}
				break
			}
			tb = tb.child(pt.geo.Index(addr, tb.level)).Load()
		}
	}
	if got, limit := unsafe.Sizeof(Table{}), uintptr(64); got > limit {
		t.Fatalf("a Table is %d bytes, want at most %d", got, limit)
	}
}
