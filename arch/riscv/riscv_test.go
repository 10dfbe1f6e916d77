package riscv_test

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch/riscv"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
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

func newMachine(t *testing.T, opts ...func(*config.Kernel)) (*riscv.Arch, *kernel.Task) {
	t.Helper()
	cfg := config.Default()
	for _, o := range opts {
		o(&cfg)
	}
	a := riscv.New(cfg)
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

func access(task *kernel.Task, acc mm.Access, addr uint64) kernel.Outcome {
	switch acc {
	case mm.AccessWrite:
		return task.Write(addr, 0x5a)
	case mm.AccessExec:
		return task.Exec(addr)
	}
	return task.Read(addr)
}

type want struct {
	ok    bool
	value uint64
	sig   abi.Signal
	code  abi.Code
	addr  uint64
}

func okv(v uint64) want                    { return want{ok: true, value: v} }
func segv(code abi.Code, addr uint64) want { return want{sig: abi.SIGSEGV, code: code, addr: addr} }

func check(t *testing.T, got kernel.Outcome, w want) {
	t.Helper()
	if w.ok {
		if got.Kind != kernel.OutOK || got.HasValue && got.Value != w.value {
			t.Fatalf("outcome %v, want ok %#x", got, w.value)
		}
		return
	}
	if got.Kind != kernel.OutSignal || got.Info.Signo != w.sig || got.Info.Code != w.code || got.Info.Addr != w.addr || got.Info.LSB != 0 {
		t.Fatalf("outcome %v, want %v %s @%#x", got, w.sig, abi.CodeName(w.sig, w.code), w.addr)
	}
}

// TestUserAccess checks riscv's access rules against the qemu
// observations: exec-only memory is unreadable, write-only is readable,
// addresses above the user range are plain SEGV_MAPERR at the address.
func TestUserAccess(t *testing.T) {
	tests := []struct {
		name  string
		prot  mm.Prot
		first mm.Access // an access made first; -1: none
		acc   mm.Access
		addr  uint64
		want  want
	}{
		{"exec-only read", xo, -1, mm.AccessRead, base + 0x20, segv(abi.SEGV_ACCERR, base+0x20)},
		{"exec-only read after exec", xo, mm.AccessExec, mm.AccessRead, base + 0x20, segv(abi.SEGV_ACCERR, base+0x20)},
		{"exec-only exec", xo, -1, mm.AccessExec, base, okv(0)},
		{"exec-only write", xo, -1, mm.AccessWrite, base + 8, segv(abi.SEGV_ACCERR, base+8)},
		{"write-only read", wo, -1, mm.AccessRead, base + 8, okv(0)},
		{"write-only write then read", wo, mm.AccessWrite, mm.AccessRead, base, okv(0x5a)},
		{"read-only write", ro, -1, mm.AccessWrite, base + 8, segv(abi.SEGV_ACCERR, base+8)},
		{"read-only write after read", ro, mm.AccessRead, mm.AccessWrite, base + 8, segv(abi.SEGV_ACCERR, base+8)},
		{"rw exec", rw, -1, mm.AccessExec, base + 4, segv(abi.SEGV_ACCERR, base+4)},
		{"rw exec after a write", rw, mm.AccessWrite, mm.AccessExec, base + 4, segv(abi.SEGV_ACCERR, base+4)},
		{"rx exec", rx, -1, mm.AccessExec, base, okv(0)},
		{"prot none read", none, -1, mm.AccessRead, base, segv(abi.SEGV_ACCERR, base)},
		{"unmapped read", rw, -1, mm.AccessRead, base + 5*pg, segv(abi.SEGV_MAPERR, base+5*pg)},
		{"null read", rw, -1, mm.AccessRead, 0, segv(abi.SEGV_MAPERR, 0)},
		{"1<<48 read", rw, -1, mm.AccessRead, 1 << 48, segv(abi.SEGV_MAPERR, 1<<48)},
		{"1<<47 read", rw, -1, mm.AccessRead, 1 << 47, segv(abi.SEGV_MAPERR, 1<<47)},
		{"top page read", rw, -1, mm.AccessRead, 0xfffffffffffff000, segv(abi.SEGV_MAPERR, 0xfffffffffffff000)},
		{"tagged pointer read", rw, mm.AccessWrite, mm.AccessRead, base | 0x5a<<56, segv(abi.SEGV_MAPERR, base|0x5a<<56)},
		{"non-canonical write", rw, -1, mm.AccessWrite, 0x8000000000000000, segv(abi.SEGV_MAPERR, 0x8000000000000000)},
		{"kernel text exec", rw, -1, mm.AccessExec, 0xffffffff81000000, segv(abi.SEGV_MAPERR, 0xffffffff81000000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, task := newMachine(t)
			mapFixed(t, task, base, 2, tc.prot)
			if tc.first >= 0 {
				if out := access(task, tc.first, base); out.Kind != kernel.OutOK {
					t.Fatalf("first access: %v", out)
				}
			}
			check(t, access(task, tc.acc, tc.addr), tc.want)
			if dead, _ := task.Dead(); dead {
				t.Fatal("the task died")
			}
		})
	}
}

// TestTranslate checks the scause a miss records.
func TestTranslate(t *testing.T) {
	a, task := newMachine(t)
	mapFixed(t, task, base, 1, xo)
	mapFixed(t, task, base+pg, 1, rw)
	if out := task.Exec(base); out.Kind != kernel.OutOK {
		t.Fatal(out)
	}
	if out := task.Write(base+pg, 1); out.Kind != kernel.OutOK {
		t.Fatal(out)
	}
	tests := []struct {
		name    string
		addr    uint64
		acc     mm.Access
		user    bool
		uaccess bool
		ok      bool
		cause   int
	}{
		{"load of exec-only", base, mm.AccessRead, true, false, false, riscv.ExcLoadPageFault},
		{"fetch of exec-only", base, mm.AccessExec, true, false, true, 0},
		{"store to exec-only", base, mm.AccessWrite, true, false, false, riscv.ExcStorePageFault},
		{"load of rw", base + pg, mm.AccessRead, true, false, true, 0},
		{"fetch of rw", base + pg, mm.AccessExec, true, false, false, riscv.ExcInstPageFault},
		{"missing", base + 2*pg, mm.AccessWrite, true, false, false, riscv.ExcStorePageFault},
		{"above the user range", 1 << 47, mm.AccessRead, true, false, false, riscv.ExcLoadPageFault},
		{"kernel load with SUM", base + pg, mm.AccessRead, false, true, true, 0},
		{"kernel load without SUM", base + pg, mm.AccessRead, false, false, false, riscv.ExcLoadPageFault},
		{"kernel fetch of user memory", base, mm.AccessExec, false, true, false, riscv.ExcInstPageFault},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &kernel.Regs{Addr: tc.addr, Access: tc.acc, User: tc.user, UAccess: tc.uaccess}
			page := a.Translate(task, r)
			if (page != nil) != tc.ok {
				t.Fatalf("Translate = %v, want success %v", page, tc.ok)
			}
			if !tc.ok && (r.Trap != tc.cause || r.HW != uint64(tc.cause)) {
				t.Errorf("trap %d hw %d, want scause %d", r.Trap, r.HW, tc.cause)
			}
		})
	}
}

// TestKernelAccess: kernel accesses to user memory without SUM are fixed
// up when the instruction has an entry, else fatal; uaccess copies behave
// as on x86 (host observations, arm64 and riscv64 table).
func TestKernelAccess(t *testing.T) {
	a, task := newMachine(t)
	mapFixed(t, task, base, 1, rw)
	mapFixed(t, task, base+pg, 1, ro)
	mapFixed(t, task, base+2*pg, 1, none)
	if out := task.Write(base, 1); out.Kind != kernel.OutOK {
		t.Fatal(out)
	}
	for _, tc := range []struct {
		name string
		insn kernel.Insn
		want kernel.TrapAction
	}{
		{"no SUM, with a fixup", kernel.InsnCopyFromUser, kernel.Fixup},
		{"no SUM, without a fixup", kernel.InsnBuggyDeref, kernel.Oops},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &kernel.Regs{Addr: base, Access: mm.AccessRead, Insn: tc.insn}
			if a.Translate(task, r) != nil {
				t.Fatal("translated without SUM")
			}
			if got := a.Trap(task, r); got != tc.want {
				t.Errorf("Trap = %v, want %v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name       string
		write      bool
		addr, size uint64
		wantN      uint64
	}{
		{"read(2) into read-only", false, base + pg, 16, 0},
		{"read(2) into PROT_NONE", false, base + 3*pg - 16, 32, 0},
		{"write(2) from PROT_NONE", true, base + 2*pg, 16, 0},
		{"read(2) into rw", false, base, 16, 16},
		{"write(2) from read-only", true, base + pg, 16, 16},
		{"read(2) at 1<<48", false, 1 << 48, 16, 0},
		{"read(2) straddling rw and read-only", false, base + pg - 10, 20, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out kernel.Outcome
			if tc.write {
				out = task.KWrite(tc.addr, tc.size)
			} else {
				out = task.KRead(tc.addr, tc.size, 7)
			}
			if tc.wantN == 0 {
				if out.Kind != kernel.OutErrno || out.Errno != abi.EFAULT {
					t.Errorf("= %v, want EFAULT", out)
				}
			} else if out.Kind != kernel.OutOK || out.Value != tc.wantN {
				t.Errorf("= %v, want %d", out, tc.wantN)
			}
			if task.SignalPending() {
				t.Error("a kernel access left a signal")
			}
		})
	}
}

// TestPoison: converted, riscv reports poison as every arch does: SIGBUS
// BUS_MCEERR_AR with the page shift, or BUS_ADRERR without
// CONFIG_MEMORY_FAILURE (today's riscv always says BUS_ADRERR: the rule
// arch.RulePoisonADRERR, kept by the native handler).
func TestPoison(t *testing.T) {
	for _, mf := range []bool{true, false} {
		_, task := newMachine(t, func(c *config.Kernel) { c.MemoryFailure = mf })
		mapFixed(t, task, base, 1, rw)
		tab, i := task.MM().PT.Alloc(base)
		tab.Lock()
		tab.Store(i, pgtable.MkMarker(pgtable.MarkerPoisoned))
		tab.Unlock()
		out := task.Read(base + 0x48)
		code, lsb := abi.BUS_ADRERR, uint8(0)
		if mf {
			code, lsb = abi.BUS_MCEERR_AR, 12
		}
		if out.Kind != kernel.OutSignal || out.Info.Signo != abi.SIGBUS || out.Info.Code != code || out.Info.Addr != base+0x48 || out.Info.LSB != lsb {
			t.Errorf("memory_failure=%v: %v, want SIGBUS %v @%#x lsb %d", mf, out, code, base+0x48, lsb)
		}
	}
}

// TestGuard: a guard marker is SEGV_MAPERR (VM_FAULT_SIGSEGV since 6.11).
func TestGuard(t *testing.T) {
	_, task := newMachine(t)
	mapFixed(t, task, base, 2, rw)
	if out := task.Madvise(base+pg, pg, kernel.MadvGuardInstall); out.Kind != kernel.OutOK {
		t.Fatal(out)
	}
	check(t, task.Read(base+pg+0x30), segv(abi.SEGV_MAPERR, base+pg+0x30))
	check(t, task.Read(base), okv(0))
}

func TestSv57(t *testing.T) {
	a, task := newMachine(t, func(c *config.Kernel) { c.PgtableLevels = 5 })
	if got := a.TaskSize(); got != 1<<56 {
		t.Fatalf("TaskSize() = %#x, want 1<<56", got)
	}
	if task.MM().PT.Levels() != 5 || task.MM().PT.VABits() != 57 {
		t.Fatalf("page tables: %d levels", task.MM().PT.Levels())
	}
	for _, addr := range []uint64{1 << 50, 1 << 48, 1<<56 - 2*pg} {
		mapFixed(t, task, addr, 1, rw)
		check(t, task.Write(addr+9, 0x42), okv(0))
		check(t, task.Read(addr+9), okv(0x42))
	}
	check(t, task.Read(1<<50+pg), segv(abi.SEGV_MAPERR, 1<<50+pg))
	check(t, task.Read(1<<56), segv(abi.SEGV_MAPERR, 1<<56))
	if out := task.Mmap(kernel.MmapArgs{Addr: 1<<56 - pg, Length: 2 * pg, Prot: rw, Fixed: true}); out.Kind != kernel.OutErrno || out.Errno != abi.ENOMEM {
		t.Errorf("mmap past TASK_SIZE = %v, want ENOMEM", out)
	}
	out := task.Mmap(kernel.MmapArgs{Length: pg, Prot: rw})
	if out.Kind != kernel.OutOK || out.Value >= 1<<47 {
		t.Errorf("mmap without an address = %v, want below 1<<47", out)
	}
}

func TestSv48(t *testing.T) {
	a, task := newMachine(t)
	if a.TaskSize() != 1<<47 || task.MM().PT.Levels() != 4 {
		t.Fatalf("TaskSize %#x levels %d", a.TaskSize(), task.MM().PT.Levels())
	}
	if out := task.Mmap(kernel.MmapArgs{Addr: 1 << 48, Length: pg, Prot: rw, Fixed: true}); out.Kind != kernel.OutErrno || out.Errno != abi.ENOMEM {
		t.Errorf("mmap at 1<<48 = %v, want ENOMEM", out)
	}
}

func TestArchBasics(t *testing.T) {
	a, _ := newMachine(t)
	if a.Name() != "riscv64" || a.RetByte() != 0x82 || a.Handler() == nil {
		t.Errorf("Name %q RetByte %#x", a.Name(), a.RetByte())
	}
	if a.MmapBase() != 1<<47-256<<20 {
		t.Errorf("MmapBase %#x", a.MmapBase())
	}
	tests := []struct {
		addr, size uint64
		ok         bool
	}{
		{0, 16, true},
		{1<<47 - 16, 16, true},
		{1<<47 - 16, 17, false},
		{1 << 47, 0, true},
		{^uint64(0) - 4, 16, false},
		{0, ^uint64(0), false},
	}
	for _, tc := range tests {
		if got := a.AccessOK(tc.addr, tc.size); got != tc.ok {
			t.Errorf("AccessOK(%#x, %d) = %v, want %v", tc.addr, tc.size, got, tc.ok)
		}
	}
	if a.PageProt(mm.VMExec, 0) != pgtable.User|pgtable.Exec {
		t.Errorf("exec-only PageProt = %v, want X alone", a.PageProt(mm.VMExec, 0))
	}
	if a.PageProt(mm.VMWrite, 0) != pgtable.User|pgtable.Read {
		t.Errorf("private write-only PageProt = %v, want readable, not yet writable", a.PageProt(mm.VMWrite, 0))
	}
	if a.PageProt(mm.VMWrite|mm.VMShared, 0) != pgtable.User|pgtable.Read|pgtable.Write {
		t.Errorf("shared write-only PageProt = %v", a.PageProt(mm.VMWrite|mm.VMShared, 0))
	}
	if a.PageProt(0, 0) != 0 {
		t.Errorf("PROT_NONE PageProt = %v", a.PageProt(0, 0))
	}
}
