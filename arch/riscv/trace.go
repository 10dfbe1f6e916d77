package riscv

import (
	"fmt"

	"github.com/faultline/faultline/kernel"
)

// DescribeTrap implements kernel.TrapDescriber: scause and stval, as
// handle_page_fault gets them.
func (a *Arch) DescribeTrap(r *kernel.Regs) (entry, detail string) {
	name := map[uint64]string{
		ExcInstPageFault: "instruction page fault", ExcLoadPageFault: "load page fault", ExcStorePageFault: "store/AMO page fault",
	}[r.HW]
	return "handle_page_fault", fmt.Sprintf("scause %d (%s), stval %#x", r.HW, name, r.Addr)
}
