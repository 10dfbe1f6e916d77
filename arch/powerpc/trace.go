package powerpc

import (
	"fmt"
	"strings"

	"github.com/faultline/faultline/kernel"
)

var trapNames = map[int]string{
	TrapDataStorage: "data storage", TrapDataSegment: "data segment",
	TrapInstStorage: "instruction storage", TrapInstSegment: "instruction segment",
}

var dsisrNames = []struct {
	bit  uint64
	name string
}{
	{DSISRBadDirectSt, "BAD_DIRECT_ST"}, {DSISRNoHPTE, "NOHPTE"}, {DSISRAttrConflict, "ATTR_CONFLICT"},
	{DSISRNoExecOrG, "NOEXEC_OR_G"}, {DSISRProtFault, "PROTFAULT"}, {DSISRBadAccess, "BADACCESS"},
	{DSISRIsStore, "ISSTORE"}, {DSISRKeyFault, "KEYFAULT"}, {DSISRBadExtCtrl, "BAD_EXT_CTRL"},
	{DSISRUnsuppMMU, "UNSUPP_MMU"}, {DSISRPrtableFault, "PRTABLE_FAULT"}, {DSISRICSWXNoCT, "ICSWX_NO_CT"},
	{DSISRBadCopyPaste, "BAD_COPYPASTE"}, {DSISRBadAMO, "BAD_AMO"}, {DSISRBadCILdSt, "BAD_CI_LDST"},
}

// DSISRString names the bits of a DSISR.
func DSISRString(dsisr uint64) string {
	var names []string
	for _, b := range dsisrNames {
		if dsisr&b.bit != 0 {
			names = append(names, b.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// DescribeTrap implements kernel.TrapDescriber: the interrupt vector,
// DAR and DSISR, as do_page_fault (or do_bad_segment_interrupt) gets them.
func (a *Arch) DescribeTrap(r *kernel.Regs) (entry, detail string) {
	if r.Trap == TrapDataSegment || r.Trap == TrapInstSegment {
		return "do_bad_segment_interrupt", fmt.Sprintf("trap %#x (%s), DAR %#x", r.Trap, trapNames[r.Trap], r.Addr)
	}
	reg := "DSISR"
	if r.Trap == TrapInstStorage {
		reg = "SRR1"
	}
	return "do_page_fault", fmt.Sprintf("trap %#x (%s), DAR %#x, %s %#x (%s)", r.Trap, trapNames[r.Trap], r.Addr, reg, r.HW, DSISRString(r.HW))
}
