package arch

import (
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
)

// ReadImpliedProt is the protection_map that riscv64 and powerpc's radix
// MMU share (vm_get_page_prot): no access is PAGE_NONE, an entry with
// any access is a user one, write implies read (neither has a
// write-only entry), a private writable mapping is read-only until its
// first write copies the page, and execute is as asked, exec-only
// included (an entry neither can read).
func ReadImpliedProt(flags mm.VMFlags) pgtable.PTE {
	if flags&mm.VMAccessFlags == 0 {
		return 0
	}
	p := pgtable.User
	if flags&(mm.VMRead|mm.VMWrite) != 0 {
		p |= pgtable.Read
	}
	if flags&mm.VMWrite != 0 && flags&mm.VMShared != 0 {
		p |= pgtable.Write
	}
	if flags&mm.VMExec != 0 {
		p |= pgtable.Exec
	}
	return p
}

// NoPKeys is embedded by the front end of an arch the model gives no
// protection keys (arm64 without POE, riscv64, powerpc's radix, s390x):
// every access is permitted by key, and mprotect assigns none.
type NoPKeys struct{}

// AccessPermitted implements mm.Arch (arch_vma_access_permitted): true.
func (NoPKeys) AccessPermitted(*mm.VMA, bool, bool, bool) bool { return true }

// MprotectPKey implements mm.Arch (arch_override_mprotect_pkey): key 0.
func (NoPKeys) MprotectPKey(mm.Prot, int) int { return 0 }
