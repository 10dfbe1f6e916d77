package s390_test

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch/s390"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
)

const (
	pg   = 4096
	base = uint64(0x10000000)
)

func newMachine(t *testing.T) (*s390.Arch, *kernel.Task) {
	t.Helper()
	cfg := config.Default()
	a := s390.New(cfg)
	k := kernel.New(cfg, a)
	t.Cleanup(k.Shutdown)
	return a, k.Spawn("t")
}

func mapFixed(t *testing.T, task *kernel.Task, addr uint64, n int, prot mm.Prot, shared bool) {
	t.Helper()
	out := task.Mmap(kernel.MmapArgs{Addr: addr, Length: uint64(n) * pg, Prot: prot, Fixed: true, Shared: shared})
	if out.Kind != kernel.OutOK || out.Value != addr {
		t.Fatalf("mmap %#x: %v", addr, out)
	}
}

// TestTranslate: the program check DAT records for each kind of miss,
// with the TEID's page, fetch/store indication, bit 56, bit 61 and
// address space.
func TestTranslate(t *testing.T) {
	a, task := newMachine(t)
	mapFixed(t, task, base, 1, mm.ProtRead, false)                   // read-only, populated below
	mapFixed(t, task, base+pg, 1, mm.ProtRead|mm.ProtWrite, true)    // shared rw, populated
	mapFixed(t, task, base+2*pg, 1, mm.ProtRead|mm.ProtWrite, false) // never touched
	for _, addr := range []uint64{base, base + pg} {
		if out := task.Read(addr); out.Kind != kernel.OutOK {
			t.Fatalf("populate %#x: %v", addr, out)
		}
	}
	const (
		store = uint64(s390.FSIStore) << 10
		fetch = uint64(s390.FSIFetch) << 10
	)
	tests := []struct {
		name string
		r    kernel.Regs
		hit  bool
		code int
		teid uint64
	}{
		{"user read of a present page", kernel.Regs{Addr: base + 5, Access: mm.AccessRead, User: true}, true, 0, 0},
		{"user store to a read-only page: DAT protection", kernel.Regs{Addr: base + 5, Access: mm.AccessWrite, User: true},
			false, s390.PgmProtection, base | store | s390.TEIDB61 | s390.ASPrimary},
		{"user store to a shared writable page", kernel.Regs{Addr: base + pg + 9, Access: mm.AccessWrite, User: true}, true, 0, 0},
		{"user fetch from a page without exec: instruction-execution protection", kernel.Regs{Addr: base + 0x40, Access: mm.AccessExec, User: true},
			false, s390.PgmProtection, base | fetch | s390.TEIDB56 | s390.TEIDB61},
		{"user read of a missing page: page translation", kernel.Regs{Addr: base + 2*pg + 0x10, Access: mm.AccessRead, User: true},
			false, s390.PgmPageTrans, base + 2*pg | fetch | s390.TEIDB61},
		{"user read far away: a missing table above", kernel.Regs{Addr: 1 << 40, Access: mm.AccessRead, User: true},
			false, s390.PgmRegion2Trans, 1<<40 | fetch | s390.TEIDB61},
		{"beyond the region-second ASCE's reach", kernel.Regs{Addr: s390.RegionSecondSize + 0x10, Access: mm.AccessWrite, User: true},
			false, s390.PgmASCEType, s390.RegionSecondSize | store | s390.TEIDB61},
		{"beyond the model's tables", kernel.Regs{Addr: s390.TaskSize, Access: mm.AccessRead, User: true},
			false, s390.PgmASCEType, s390.TaskSize | fetch | s390.TEIDB61},
		{"copy_to_user: the secondary space", kernel.Regs{Addr: base + 2*pg + 1, Access: mm.AccessWrite, Insn: kernel.InsnCopyToUser},
			false, s390.PgmPageTrans, base + 2*pg | store | s390.TEIDB61 | s390.ASSecondary},
		{"copy_from_user of a present page", kernel.Regs{Addr: base + 1, Access: mm.AccessRead, Insn: kernel.InsnCopyFromUser}, true, 0, 0},
		{"a plain kernel access: the kernel's ASCE, mapped or not", kernel.Regs{Addr: base + 1, Access: mm.AccessRead, Insn: kernel.InsnBuggyDeref, UAccess: true},
			false, s390.PgmSegmentTrans, base | fetch | s390.TEIDB61 | s390.ASPrimary},
		{"a kernel store to 0x10: low-address protection", kernel.Regs{Addr: 0x10, Access: mm.AccessWrite, Insn: kernel.InsnBuggyDeref},
			false, s390.PgmProtection, s390.ASPrimary},
		{"a kernel store to 4096+511: low-address protection", kernel.Regs{Addr: pg + 511, Access: mm.AccessWrite, Insn: kernel.InsnBuggyDeref},
			false, s390.PgmProtection, s390.ASPrimary},
		{"a kernel store to 4096+512: none", kernel.Regs{Addr: pg + 512, Access: mm.AccessWrite, Insn: kernel.InsnBuggyDeref},
			false, s390.PgmSegmentTrans, pg | store | s390.TEIDB61},
		{"a user store to 0x10: private space, no low-address protection", kernel.Regs{Addr: 0x10, Access: mm.AccessWrite, User: true},
			false, s390.PgmSegmentTrans, store | s390.TEIDB61}, // the region of base: its segment table exists
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			page := a.Translate(task, &r)
			if (page != nil) != tc.hit {
				t.Fatalf("translated %v, want %v", page != nil, tc.hit)
			}
			if !tc.hit && (r.Trap != tc.code || r.HW != tc.teid) {
				t.Errorf("code %#x TEID %#x, want %#x and %#x", r.Trap, r.HW, tc.code, tc.teid)
			}
		})
	}
}

// TestGenericOutcomes: accesses end to end through the generic handler,
// every signal at the page, a load or fetch allowed by any of
// VM_READ, VM_WRITE and VM_EXEC.
func TestGenericOutcomes(t *testing.T) {
	tests := []struct {
		name  string
		prot  mm.Prot
		acc   mm.Access
		off   uint64
		ok    bool
		code  abi.Code
		value uint64
	}{
		{"read of write-only memory", mm.ProtWrite, mm.AccessRead, 0x10, true, 0, 0},
		{"read of exec-only memory", mm.ProtExec, mm.AccessRead, 0x10, true, 0, 0},
		{"write to read-only memory", mm.ProtRead, mm.AccessWrite, 0x10, false, abi.SEGV_ACCERR, 0},
		{"fetch from read-only memory: NX once present", mm.ProtRead, mm.AccessExec, 0x30, false, abi.SEGV_ACCERR, 0},
		{"fetch from PROT_NONE", mm.ProtNone, mm.AccessExec, 0x30, false, abi.SEGV_ACCERR, 0},
		{"read past the mapping", mm.ProtRead, mm.AccessRead, pg + 0x44, false, abi.SEGV_MAPERR, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, task := newMachine(t)
			mapFixed(t, task, base, 1, tc.prot, false)
			addr := base + tc.off
			var out kernel.Outcome
			switch tc.acc {
			case mm.AccessWrite:
				out = task.Write(addr, 1)
			case mm.AccessExec:
				out = task.Exec(addr)
			default:
				out = task.Read(addr)
			}
			if tc.ok {
				if out.Kind != kernel.OutOK {
					t.Fatalf("outcome %v, want ok", out)
				}
				return
			}
			page := addr &^ (pg - 1)
			if out.Kind != kernel.OutSignal || out.Info.Signo != abi.SIGSEGV || out.Info.Code != tc.code || out.Info.Addr != page {
				t.Fatalf("outcome %v, want SIGSEGV %s @%#x", out, abi.CodeName(abi.SIGSEGV, tc.code), page)
			}
		})
	}
}

// TestKernelCopies: kread and kwrite reach user memory (MVCOS in the
// secondary space); a kderef of the same mapped page oopses.
func TestKernelCopies(t *testing.T) {
	_, task := newMachine(t)
	mapFixed(t, task, base, 1, mm.ProtRead|mm.ProtWrite, false)
	if out := task.KRead(base, 16, 7); out.Kind != kernel.OutOK || out.Value != 16 {
		t.Fatalf("kread: %v", out)
	}
	if out := task.KRead(base+pg-8, 16, 7); out.Kind != kernel.OutOK || out.Value != 8 {
		t.Fatalf("kread across the end: %v, want 8 bytes", out)
	}
	if out := task.KDeref(base, false); out.Kind != kernel.OutOops {
		t.Fatalf("kderef: %v, want oops", out)
	}
}

// TestCopyUser: the MVCOS loop and its page-boundary fixup stop exactly
// at the faulting page.
func TestCopyUser(t *testing.T) {
	const f = uint64(0x20000) // the first byte that faults
	tests := []struct {
		name          string
		c             kernel.UserCopy
		copied, store uint64
	}{
		{"from user, the fault in the first chunk", kernel.UserCopy{User: f - 100, N: 4096, Fault: f}, 100, 0},
		{"from user, the fault in the second chunk", kernel.UserCopy{User: f - 5000, N: 8192, Fault: f}, 5000, 0},
		{"to user, the fault on the first page", kernel.UserCopy{ToUser: true, User: f, N: 64, Fault: f}, 0, 0},
		{"to user, a whole copy", kernel.UserCopy{ToUser: true, User: f - 8192, N: 8192, Fault: f}, 8192, 8192},
		{"to user, short", kernel.UserCopy{ToUser: true, User: f - 3, N: 4096, Fault: f}, 3, 3},
	}
	a := s390.New(config.Default())
	for _, tc := range tests {
		copied, stored := a.CopyUser(tc.c)
		if copied != tc.copied || stored != tc.store {
			t.Errorf("%s: copied %d stored %d, want %d and %d", tc.name, copied, stored, tc.copied, tc.store)
		}
	}
}
