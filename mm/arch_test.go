package mm_test

import (
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
)

// testArch is a minimal architecture: readable when accessible, writable
// up front when shared, no keys.
type testArch struct{}

func (testArch) PageProt(f mm.VMFlags, _ int) pgtable.PTE {
	if f&mm.VMAccessFlags == 0 {
		return 0
	}
	p := pgtable.User | pgtable.Read
	if f&mm.VMWrite != 0 && f&mm.VMShared != 0 {
		p |= pgtable.Write
	}
	if f&mm.VMExec != 0 {
		p |= pgtable.Exec
	}
	return p
}
func (testArch) TaskSize() uint64                               { return 1<<47 - 4096 }
func (testArch) MmapBase() uint64                               { return 1<<47 - 4096 - 256<<20 }
func (testArch) AccessPermitted(*mm.VMA, bool, bool, bool) bool { return true }
func (testArch) MprotectPKey(mm.Prot, int) int                  { return 0 }
