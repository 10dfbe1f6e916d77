package powerpc_test

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch/powerpc"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
)

const (
	pg   = 4096
	base = uint64(0x10000000)
	rw   = mm.ProtRead | mm.ProtWrite
	rx   = mm.ProtRead | mm.ProtExec
	ro   = mm.ProtRead
	xo   = mm.ProtExec
	wo   = mm.ProtWrite
	none = mm.ProtNone
)

// TestRadixGeometry: the index bits of radix-4k.h and radix-64k.h, the
// 52-bit tree of both, hugetlb sizes (2 MiB and 1 GiB) that match the
// hstates the model has at 4 KiB (at 64 KiB the model's tables, of
// PAGE_SHIFT-3 index bits, would have 512 MiB PMDs: why config keeps
// ppc64le at 4 KiB for now), and TASK_SIZE and the map window of each.
func TestRadixGeometry(t *testing.T) {
	tests := []struct {
		shift               uint
		pte, pmd, pud, pgd  uint
		taskSize, mapWindow uint64
	}{
		{12, 9, 9, 9, 13, 1 << 46, 1 << 46},
		{16, 5, 9, 9, 13, 1 << 52, 1 << 47},
	}
	for _, tc := range tests {
		g, ok := powerpc.RadixGeometry(tc.shift)
		if !ok {
			t.Fatalf("page shift %d: no geometry", tc.shift)
		}
		if g.PTE != tc.pte || g.PMD != tc.pmd || g.PUD != tc.pud || g.PGD != tc.pgd {
			t.Errorf("page shift %d: %+v", tc.shift, g)
		}
		if g.VABits() != 52 {
			t.Errorf("page shift %d: %d address bits, want 52", tc.shift, g.VABits())
		}
		if tc.shift == 12 && (g.PMDShift() != memory.HStateShift(0, tc.shift) || g.PUDShift() != memory.HStateShift(1, tc.shift)) {
			t.Errorf("page shift %d: huge pages 1<<%d and 1<<%d, the model's hstates 1<<%d and 1<<%d",
				tc.shift, g.PMDShift(), g.PUDShift(), memory.HStateShift(0, tc.shift), memory.HStateShift(1, tc.shift))
		}
		if g.TaskSize() != tc.taskSize || g.MapWindow() != tc.mapWindow {
			t.Errorf("page shift %d: TASK_SIZE %#x, map window %#x", tc.shift, g.TaskSize(), g.MapWindow())
		}
	}
	for _, shift := range []uint{14, 21} {
		if _, ok := powerpc.RadixGeometry(shift); ok {
			t.Errorf("page shift %d: radix has no such base page", shift)
		}
	}
	a := powerpc.New(config.Default())
	if a.TaskSize() != 1<<46 || a.Geometry().PageShift != 12 {
		t.Errorf("the 4 KiB machine: TASK_SIZE %#x, page shift %d", a.TaskSize(), a.Geometry().PageShift)
	}
	if a.MmapBase() >= a.TaskSize() {
		t.Errorf("mmap base %#x at or above TASK_SIZE", a.MmapBase())
	}
	// The model's page tables (4 levels of 9 bits by default) must
	// translate the whole user range, or an address above them would
	// alias one below: with 64 KiB pages' 4 PiB they need 5 levels.
	if bits := pgtable.New(config.Default().PgtableLevels).VABits(); a.TaskSize() > 1<<bits {
		t.Errorf("TASK_SIZE %#x beyond the %d bits the model's page tables translate", a.TaskSize(), bits)
	}
}

func newMachine(t *testing.T) (*powerpc.Arch, *kernel.Task) {
	t.Helper()
	cfg := config.Default()
	a := powerpc.New(cfg)
	k := kernel.New(cfg, a)
	t.Cleanup(k.Shutdown)
	return a, k.Spawn("t")
}

func mapFixed(t *testing.T, task *kernel.Task, addr uint64, n int, prot mm.Prot) {
	t.Helper()
	out := task.Mmap(kernel.MmapArgs{Addr: addr, Length: uint64(n) * pg, Prot: prot, Fixed: true})
	if out.Kind != kernel.OutOK || out.Value != addr {
		t.Fatalf("mmap %#x: %v", addr, out)
	}
}

// TestUserAccess: access_error and the radix protection map together, on
// every protection and access: execute-only memory is not readable, by
// a user load or a kernel copy; write implies read; a fetch needs
// PROT_EXEC.
func TestUserAccess(t *testing.T) {
	const accErr = "SEGV_ACCERR"
	tests := []struct {
		prot                    mm.Prot
		read, write, exec, copy string // "ok", accErr, or "EFAULT" for the copy
	}{
		{rw, "ok", "ok", accErr, "ok"},
		{ro, "ok", accErr, accErr, "ok"},
		{wo, "ok", "ok", accErr, "ok"},
		{xo, accErr, accErr, "ok", "EFAULT"},
		{rx, "ok", accErr, "ok", "ok"},
		{none, accErr, accErr, accErr, "EFAULT"},
	}
	for _, tc := range tests {
		_, task := newMachine(t)
		mapFixed(t, task, base, 1, rw)
		if out := task.Write(base, powerpc.New(config.Default()).RetByte()); out.Kind != kernel.OutOK {
			t.Fatalf("write: %v", out)
		}
		if out := task.Mprotect(base, pg, tc.prot); out.Kind != kernel.OutOK {
			t.Fatalf("mprotect: %v", out)
		}
		for _, c := range []struct {
			what string
			out  kernel.Outcome
			want string
		}{
			{"read", task.Read(base), tc.read},
			{"write", task.Write(base+8, 1), tc.write},
			{"exec", task.Exec(base), tc.exec},
			{"copy from", task.KWrite(base, 8), tc.copy},
		} {
			var got string
			switch c.out.Kind {
			case kernel.OutOK:
				got = "ok"
			case kernel.OutSignal:
				got = abi.CodeName(c.out.Info.Signo, c.out.Info.Code)
				if c.out.Info.Signo != abi.SIGSEGV || c.out.Info.Addr != base && c.out.Info.Addr != base+8 {
					got = c.out.String()
				}
			case kernel.OutErrno:
				got = c.out.Errno.String()
			default:
				got = c.out.String()
			}
			if got != c.want {
				t.Errorf("prot %v, %s: %s, want %s", tc.prot, c.what, got, c.want)
			}
		}
	}
}

// TestTranslate: what the MMU records on a miss: the vector and the DSISR
// (SRR1's bits for a fetch) of each kind of miss.
func TestTranslate(t *testing.T) {
	a, task := newMachine(t)
	mapFixed(t, task, base, 2, rw)
	if out := task.Write(base, 1); out.Kind != kernel.OutOK {
		t.Fatalf("write: %v", out)
	}
	if out := task.Mprotect(base+pg, pg, xo); out.Kind != kernel.OutOK {
		t.Fatalf("mprotect: %v", out)
	}
	tests := []struct {
		name string
		regs kernel.Regs
		trap int
		hw   uint64
		hit  bool
	}{
		{"a mapped page", kernel.Regs{Addr: base, Access: mm.AccessRead, User: true}, powerpc.TrapDataStorage, 0, true},
		{"no entry", kernel.Regs{Addr: base + 8*pg, Access: mm.AccessRead, User: true}, powerpc.TrapDataStorage, powerpc.DSISRNoHPTE, false},
		{"a store, no entry", kernel.Regs{Addr: base + 8*pg, Access: mm.AccessWrite, User: true}, powerpc.TrapDataStorage, powerpc.DSISRNoHPTE | powerpc.DSISRIsStore, false},
		{"a fetch of a read-write page", kernel.Regs{Addr: base, Access: mm.AccessExec, User: true}, powerpc.TrapInstStorage, powerpc.DSISRNoExecOrG, false},
		{"a kernel load outside uaccess: KUAP", kernel.Regs{Addr: base, Access: mm.AccessRead}, powerpc.TrapDataStorage, powerpc.DSISRProtFault, false},
		{"a kernel load in a uaccess routine", kernel.Regs{Addr: base, Access: mm.AccessRead, UAccess: true}, powerpc.TrapDataStorage, 0, true},
		{"a kernel fetch of a user page: KUEP", kernel.Regs{Addr: base, Access: mm.AccessExec, UAccess: true}, powerpc.TrapInstStorage, powerpc.DSISRProtFault, false},
		{"TASK_SIZE", kernel.Regs{Addr: 1 << 46, Access: mm.AccessRead, User: true}, powerpc.TrapDataStorage, powerpc.DSISRNoHPTE, false},
		{"the tree's last page", kernel.Regs{Addr: 1<<52 - pg, Access: mm.AccessWrite, User: true}, powerpc.TrapDataStorage, powerpc.DSISRNoHPTE | powerpc.DSISRIsStore, false},
		{"1<<52: a segment interrupt", kernel.Regs{Addr: 1 << 52, Access: mm.AccessRead, User: true}, powerpc.TrapDataSegment, 0, false},
		{"a fetch at 1<<52", kernel.Regs{Addr: 1 << 52, Access: mm.AccessExec, User: true}, powerpc.TrapInstSegment, 0, false},
		{"the linear map", kernel.Regs{Addr: 0xc000000000000000, Access: mm.AccessRead, User: true}, powerpc.TrapDataStorage, powerpc.DSISRNoHPTE, false},
		{"kernel text above 52 bits", kernel.Regs{Addr: 0xffffffff81000000, Access: mm.AccessRead}, powerpc.TrapDataSegment, 0, false},
		{"quadrant 2", kernel.Regs{Addr: 0x8000000000000000, Access: mm.AccessRead, User: true}, powerpc.TrapDataSegment, 0, false},
	}
	for _, tc := range tests {
		r := tc.regs
		page := a.Translate(task, &r)
		if (page != nil) != tc.hit {
			t.Errorf("%s: hit %v, want %v", tc.name, page != nil, tc.hit)
		}
		if !tc.hit && (r.Trap != tc.trap || r.HW != tc.hw) {
			t.Errorf("%s: trap %#x DSISR %#x (%s), want %#x %#x (%s)", tc.name, r.Trap, r.HW, powerpc.DSISRString(r.HW), tc.trap, tc.hw, powerpc.DSISRString(tc.hw))
		}
	}
}

// TestPageProt: PROT_EXEC alone is execute-only on radix; private
// writable memory starts read-only.
func TestPageProt(t *testing.T) {
	a := powerpc.New(config.Default())
	tests := []struct {
		flags mm.VMFlags
		want  pgtable.PTE
	}{
		{0, 0},
		{mm.VMExec, pgtable.User | pgtable.Exec},
		{mm.VMRead, pgtable.User | pgtable.Read},
		{mm.VMWrite, pgtable.User | pgtable.Read},
		{mm.VMWrite | mm.VMShared, pgtable.User | pgtable.Read | pgtable.Write},
		{mm.VMRead | mm.VMExec, pgtable.User | pgtable.Read | pgtable.Exec},
	}
	for _, tc := range tests {
		if got := a.PageProt(tc.flags, 0); got != tc.want {
			t.Errorf("flags %v: %v, want %v", tc.flags, got, tc.want)
		}
	}
}

// TestAccessOK: __access_ok against a 64 TiB TASK_SIZE.
func TestAccessOK(t *testing.T) {
	a := powerpc.New(config.Default())
	const ts = uint64(1) << 46
	tests := []struct {
		addr, size uint64
		want       bool
	}{
		{0, 0, true}, {ts - 16, 16, true}, {ts - 16, 17, false}, {ts, 0, false},
		{1 << 47, 16, false}, {^uint64(0), 2, false}, {0, ts, true}, {0, ts + 1, false},
	}
	for _, tc := range tests {
		if got := a.AccessOK(tc.addr, tc.size); got != tc.want {
			t.Errorf("AccessOK(%#x, %d) = %v", tc.addr, tc.size, got)
		}
	}
}

// TestCopyUser: __copy_tofrom_user reaches the faulting byte, from either
// side, whatever the alignment.
func TestCopyUser(t *testing.T) {
	const f = uint64(0x20000)
	a := powerpc.New(config.Default())
	tests := []struct {
		c              kernel.UserCopy
		copied, stored uint64
	}{
		{kernel.UserCopy{User: f - 100, N: 4096, Fault: f}, 100, 0},
		{kernel.UserCopy{User: f - 3, Kern: 5, N: 4096, Fault: f}, 3, 0},
		{kernel.UserCopy{ToUser: true, User: f - 40, N: 4096, Fault: f}, 40, 40},
		{kernel.UserCopy{ToUser: true, User: f - 13, Kern: 7, N: 64, Fault: f}, 13, 13},
		{kernel.UserCopy{ToUser: true, User: f - 64, N: 32, Fault: f}, 32, 32},
	}
	for _, tc := range tests {
		copied, stored := a.CopyUser(tc.c)
		if copied != tc.copied || stored != tc.stored {
			t.Errorf("%+v: copied %d stored %d, want %d and %d", tc.c, copied, stored, tc.copied, tc.stored)
		}
	}
}

// TestDescribeTrap names the vector and the DSISR bits.
func TestDescribeTrap(t *testing.T) {
	a := powerpc.New(config.Default())
	tests := []struct {
		regs        kernel.Regs
		entry, want string
	}{
		{kernel.Regs{Addr: 0x1000, Trap: powerpc.TrapDataStorage, HW: powerpc.DSISRNoHPTE | powerpc.DSISRIsStore}, "do_page_fault", "DSISR 0x42000000 (NOHPTE|ISSTORE)"},
		{kernel.Regs{Addr: 0x1000, Trap: powerpc.TrapInstStorage, HW: powerpc.DSISRProtFault}, "do_page_fault", "SRR1 0x8000000 (PROTFAULT)"},
		{kernel.Regs{Addr: 1 << 52, Trap: powerpc.TrapDataSegment}, "do_bad_segment_interrupt", "DAR 0x10000000000000"},
	}
	for _, tc := range tests {
		entry, detail := a.DescribeTrap(&tc.regs)
		if entry != tc.entry || !strings.Contains(detail, tc.want) {
			t.Errorf("%+v: %s %q, want %s with %q", tc.regs, entry, detail, tc.entry, tc.want)
		}
	}
	if got := powerpc.DSISRString(0); got != "none" {
		t.Errorf("DSISRString(0) = %q", got)
	}
}

// TestPageFaultIsBad: each bit of DSISR_BAD_FAULT_64S is bad, the bits of
// an ordinary fault are not.
func TestPageFaultIsBad(t *testing.T) {
	for _, b := range []uint64{powerpc.DSISRBadDirectSt, powerpc.DSISRAttrConflict, powerpc.DSISRBadAccess, powerpc.DSISRBadExtCtrl,
		powerpc.DSISRUnsuppMMU, powerpc.DSISRPrtableFault, powerpc.DSISRICSWXNoCT, powerpc.DSISRBadCopyPaste, powerpc.DSISRBadAMO, powerpc.DSISRBadCILdSt} {
		if !powerpc.PageFaultIsBad(b | powerpc.DSISRNoHPTE) {
			t.Errorf("%s is not bad", powerpc.DSISRString(b))
		}
	}
	for _, b := range []uint64{0, powerpc.DSISRNoHPTE, powerpc.DSISRProtFault | powerpc.DSISRIsStore, powerpc.DSISRKeyFault, powerpc.DSISRNoExecOrG} {
		if powerpc.PageFaultIsBad(b) {
			t.Errorf("%s is bad", powerpc.DSISRString(b))
		}
	}
}
