package arm64_test

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch/arm64"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
)

const (
	pg   = 4096
	base = uint64(0x10000000)
	tag  = uint64(0x5a) << 56
	rw   = mm.ProtRead | mm.ProtWrite
	rx   = mm.ProtRead | mm.ProtExec
	ro   = mm.ProtRead
	xo   = mm.ProtExec
	wo   = mm.ProtWrite
	none = mm.ProtNone
)

func newMachine(t *testing.T, opts ...func(*config.Kernel)) (*arm64.Arch, *kernel.Task) {
	t.Helper()
	cfg := config.Default()
	for _, o := range opts {
		o(&cfg)
	}
	a := arm64.New(cfg)
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
	lsb   uint8
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
	if got.Kind != kernel.OutSignal || got.Info.Signo != w.sig || got.Info.Code != w.code || got.Info.Addr != w.addr || got.Info.LSB != w.lsb {
		t.Fatalf("outcome %v, want %v %s @%#x lsb %d", got, w.sig, abi.CodeName(w.sig, w.code), w.addr, w.lsb)
	}
}

// TestUserAccess checks arm64's access rules against the qemu
// observations (host-kernel-observations.md, last section): exec-only and
// write-only memory are readable without EPAN, a tagged pointer reaches
// its page, addresses above 48 bits are SEGV_MAPERR at the address, and
// si_addr loses the tag on the way to the handler.
func TestUserAccess(t *testing.T) {
	tests := []struct {
		name  string
		epan  bool
		prot  mm.Prot
		first mm.Access // an access made first; -1: none
		acc   mm.Access
		addr  uint64
		want  want
	}{
		{"exec-only read", false, xo, -1, mm.AccessRead, base + 0x20, okv(0)},
		{"exec-only read after exec", false, xo, mm.AccessExec, mm.AccessRead, base + 0x20, okv(0)},
		{"exec-only read with EPAN", true, xo, -1, mm.AccessRead, base + 0x20, segv(abi.SEGV_ACCERR, base+0x20)},
		{"exec-only read after exec with EPAN", true, xo, mm.AccessExec, mm.AccessRead, base + 0x20, segv(abi.SEGV_ACCERR, base+0x20)},
		{"exec-only exec with EPAN", true, xo, -1, mm.AccessExec, base, okv(0)},
		{"exec-only exec", false, xo, -1, mm.AccessExec, base, okv(0)},
		{"exec-only write", false, xo, -1, mm.AccessWrite, base + 8, segv(abi.SEGV_ACCERR, base+8)},
		{"write-only read", false, wo, -1, mm.AccessRead, base + 8, okv(0)},
		{"write-only write then read", false, wo, mm.AccessWrite, mm.AccessRead, base, okv(0x5a)},
		{"read-only write", false, ro, -1, mm.AccessWrite, base + 8, segv(abi.SEGV_ACCERR, base+8)},
		{"read-only write after read", false, ro, mm.AccessRead, mm.AccessWrite, base + 8, segv(abi.SEGV_ACCERR, base+8)},
		{"rw exec", false, rw, -1, mm.AccessExec, base + 4, segv(abi.SEGV_ACCERR, base+4)},
		{"rw exec after a write", false, rw, mm.AccessWrite, mm.AccessExec, base + 4, segv(abi.SEGV_ACCERR, base+4)},
		{"rx exec", false, rx, -1, mm.AccessExec, base, okv(0)},
		{"prot none read", false, none, -1, mm.AccessRead, base, segv(abi.SEGV_ACCERR, base)},
		{"unmapped read", false, rw, -1, mm.AccessRead, base + 5*pg, segv(abi.SEGV_MAPERR, base+5*pg)},
		{"null read", false, rw, -1, mm.AccessRead, 0, segv(abi.SEGV_MAPERR, 0)},
		{"1<<48 read", false, rw, -1, mm.AccessRead, 1 << 48, segv(abi.SEGV_MAPERR, 1<<48)},
		{"1<<47 read", false, rw, -1, mm.AccessRead, 1 << 47, segv(abi.SEGV_MAPERR, 1<<47)},
		{"top page read", false, rw, -1, mm.AccessRead, 0xfffffffffffff000, segv(abi.SEGV_MAPERR, 0xfffffffffffff000)},
		{"tagged pointer read", false, rw, mm.AccessWrite, mm.AccessRead, base | tag, okv(0x5a)},
		{"tagged pointer write", false, rw, -1, mm.AccessWrite, base | tag + 8, okv(0)},
		{"tagged pointer exec", false, rx, -1, mm.AccessExec, base | tag, okv(0)},
		{"tagged pointer, unmapped", false, rw, -1, mm.AccessRead, base | tag + 5*pg, segv(abi.SEGV_MAPERR, base+5*pg)},
		{"tagged pointer, read-only", false, ro, -1, mm.AccessWrite, base | tag + 9, segv(abi.SEGV_ACCERR, base+9)},
		{"tagged pointer above 48 bits", false, rw, -1, mm.AccessRead, 1<<48 | tag, segv(abi.SEGV_MAPERR, 1<<48)},
		{"bit 55 set: TTBR1", false, rw, -1, mm.AccessRead, base | 1<<55, segv(abi.SEGV_MAPERR, base|1<<55)},
		{"kernel text exec", false, rw, -1, mm.AccessExec, 0xffffffc008000000, segv(abi.SEGV_MAPERR, 0xffffffc008000000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, task := newMachine(t, func(c *config.Kernel) { c.EPAN = tc.epan })
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

// TestTranslate checks the ESR a miss records: the exception class by
// mode and access, WnR, and the fault status with its level.
func TestTranslate(t *testing.T) {
	a, task := newMachine(t)
	mapFixed(t, task, base, 1, xo)
	mapFixed(t, task, base+pg, 1, rw)
	mapFixed(t, task, base+2*pg, 1, none)
	for _, acc := range []mm.Access{mm.AccessExec, mm.AccessRead} {
		if out := access(task, acc, base); out.Kind != kernel.OutOK {
			t.Fatal(out)
		}
	}
	if out := task.Write(base+pg, 1); out.Kind != kernel.OutOK {
		t.Fatal(out)
	}
	const far = uint64(0x7f0000000000)
	tests := []struct {
		name    string
		addr    uint64
		acc     mm.Access
		user    bool
		uaccess bool
		ok      bool
		ec      int
		fsc     uint64
		level   int
	}{
		{"load of exec-only", base, mm.AccessRead, true, false, true, 0, 0, 0},
		{"fetch of exec-only", base, mm.AccessExec, true, false, true, 0, 0, 0},
		{"store to exec-only", base, mm.AccessWrite, true, false, false, arm64.ECDAbtLow, arm64.FSCPerm, 3},
		{"fetch of rw", base + pg, mm.AccessExec, true, false, false, arm64.ECIAbtLow, arm64.FSCPerm, 3},
		{"tagged load of rw", base + pg | tag, mm.AccessRead, true, false, true, 0, 0, 0},
		{"PROT_NONE", base + 2*pg, mm.AccessRead, true, false, false, arm64.ECDAbtLow, arm64.FSCTrans, 3},
		{"missing PTE", base + 3*pg, mm.AccessWrite, true, false, false, arm64.ECDAbtLow, arm64.FSCTrans, 3},
		{"missing PTE table", base + 4<<20, mm.AccessRead, true, false, false, arm64.ECDAbtLow, arm64.FSCTrans, 2},
		{"missing PMD table", base + 2<<30, mm.AccessRead, true, false, false, arm64.ECDAbtLow, arm64.FSCTrans, 1},
		{"missing PUD table", far, mm.AccessExec, true, false, false, arm64.ECIAbtLow, arm64.FSCTrans, 0},
		{"above the user range", 1 << 48, mm.AccessRead, true, false, false, arm64.ECDAbtLow, arm64.FSCTrans, 0},
		{"kernel address", 0xffff000000000000, mm.AccessWrite, true, false, false, arm64.ECDAbtLow, arm64.FSCTrans, 0},
		{"uaccess load", base + pg, mm.AccessRead, false, true, true, 0, 0, 0},
		{"uaccess store", base + pg, mm.AccessWrite, false, true, true, 0, 0, 0},
		{"uaccess store to exec-only", base, mm.AccessWrite, false, true, false, arm64.ECDAbtCur, arm64.FSCPerm, 3},
		{"PAN: kernel load outside uaccess", base + pg, mm.AccessRead, false, false, false, arm64.ECDAbtCur, arm64.FSCPerm, 3},
		{"PAN: kernel load of exec-only", base, mm.AccessRead, false, false, false, arm64.ECDAbtCur, arm64.FSCPerm, 3},
		{"PXN: kernel fetch of user memory", base, mm.AccessExec, false, true, false, arm64.ECIAbtCur, arm64.FSCPerm, 3},
		{"kernel load, missing", base + 3*pg, mm.AccessRead, false, true, false, arm64.ECDAbtCur, arm64.FSCTrans, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &kernel.Regs{Addr: tc.addr, Access: tc.acc, User: tc.user, UAccess: tc.uaccess}
			page := a.Translate(task, r)
			if (page != nil) != tc.ok {
				t.Fatalf("Translate = %v, want success %v", page, tc.ok)
			}
			if tc.ok {
				return
			}
			esr := r.HW
			if r.Trap != tc.ec || arm64.EC(esr) != tc.ec || arm64.FSCType(esr) != tc.fsc || arm64.FSCLevel(esr) != tc.level {
				t.Errorf("trap %#x ESR %#x (EC %#x FSC %#x level %d), want EC %#x FSC %#x level %d",
					r.Trap, esr, arm64.EC(esr), arm64.FSCType(esr), arm64.FSCLevel(esr), tc.ec, tc.fsc, tc.level)
			}
			if wnr := esr&arm64.ESRWnR != 0; wnr != (tc.acc == mm.AccessWrite) || esr&arm64.ESRIL == 0 {
				t.Errorf("ESR %#x: WnR %v for %v, IL clear", esr, wnr, tc.acc)
			}
			if got, want := arm64.AbortAccess(esr), tc.acc; tc.user && got != want {
				t.Errorf("AbortAccess = %v, want %v", got, want)
			}
		})
	}
}

// TestAbortAccess checks do_page_fault's reading of an ESR: only an EL0
// instruction abort is a fetch; a cache maintenance write is a read.
func TestAbortAccess(t *testing.T) {
	for _, tc := range []struct {
		esr  uint64
		want mm.Access
	}{
		{arm64.ECIAbtLow<<arm64.ESRECShift | arm64.FSCPerm, mm.AccessExec},
		{arm64.ECIAbtCur<<arm64.ESRECShift | arm64.FSCPerm, mm.AccessRead},
		{arm64.ECDAbtLow<<arm64.ESRECShift | arm64.ESRWnR | arm64.FSCTrans, mm.AccessWrite},
		{arm64.ECDAbtLow<<arm64.ESRECShift | arm64.ESRWnR | arm64.ESRCM | arm64.FSCTrans, mm.AccessRead},
		{arm64.ECDAbtCur<<arm64.ESRECShift | arm64.FSCTrans, mm.AccessRead},
	} {
		if got := arm64.AbortAccess(tc.esr); got != tc.want {
			t.Errorf("AbortAccess(%#x) = %v, want %v", tc.esr, got, tc.want)
		}
	}
}

// TestKernelAccess: PAN and PXN make a kernel access to user memory
// outside a uaccess routine, and any kernel fetch from it, die; uaccess
// copies behave as on the other arches, and a tagged pointer fails
// access_ok.
func TestKernelAccess(t *testing.T) {
	a, task := newMachine(t)
	mapFixed(t, task, base, 1, rw)
	mapFixed(t, task, base+pg, 1, ro)
	mapFixed(t, task, base+2*pg, 1, none)
	mapFixed(t, task, base+3*pg, 1, rx)
	if out := task.Write(base, 1); out.Kind != kernel.OutOK {
		t.Fatal(out)
	}
	for _, tc := range []struct {
		name    string
		addr    uint64
		acc     mm.Access
		insn    kernel.Insn
		uaccess bool
		want    kernel.TrapAction
	}{
		{"PAN, without a fixup", base, mm.AccessRead, kernel.InsnBuggyDeref, false, kernel.Oops},
		{"PAN, missing page, without a fixup: mapped, then dies", base + 3*pg, mm.AccessRead, kernel.InsnBuggyDeref, false, kernel.Oops},
		{"fetch from user memory", base + 3*pg, mm.AccessExec, kernel.InsnCopyFromUser, true, kernel.Oops},
		{"uaccess, missing page, fixed up", base + 3*pg + 64, mm.AccessWrite, kernel.InsnCopyToUser, true, kernel.Fixup},
		{"kernel address, fixed up", 0xffff800000000000, mm.AccessRead, kernel.InsnCopyFromUser, true, kernel.Fixup},
		{"kernel address, without a fixup", 0xffff800000000000, mm.AccessRead, kernel.InsnBuggyDeref, true, kernel.Oops},
		{"fetch, no VMA: never fixed up", base + 10*pg, mm.AccessExec, kernel.InsnCopyFromUser, true, kernel.Oops},
		{"fetch of a kernel address: never fixed up", 0xffff800000000000, mm.AccessExec, kernel.InsnCopyFromUser, true, kernel.Oops},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &kernel.Regs{Addr: tc.addr, Access: tc.acc, Insn: tc.insn, UAccess: tc.uaccess}
			var got kernel.TrapAction
			for range 3 { // a fault the handler resolves restarts the access
				if a.Translate(task, r) != nil {
					t.Fatal("translated")
				}
				if got = a.Trap(task, r); got != kernel.Restart {
					break
				}
			}
			if got != tc.want {
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
		{"read(2) into rw through a tagged pointer", false, base | tag, 16, 0},
		{"write(2) through a tagged pointer", true, base | tag, 16, 0},
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

// TestEPANKernelRead: with EPAN, write(2) from exec-only memory fails
// (the unprivileged load is a permission fault, the VMA lacks
// VM_READ|VM_WRITE); without, it copies.
func TestEPANKernelRead(t *testing.T) {
	for _, tc := range []struct {
		epan bool
		want kernel.Outcome
	}{
		{false, kernel.OKValue(16)},
		{true, kernel.Err(abi.EFAULT)},
	} {
		_, task := newMachine(t, func(c *config.Kernel) { c.EPAN = tc.epan })
		mapFixed(t, task, base, 1, xo)
		if got := task.KWrite(base, 16); got.Kind != tc.want.Kind || got.Value != tc.want.Value || got.Errno != tc.want.Errno {
			t.Errorf("epan=%v: kwrite = %v, want %v", tc.epan, got, tc.want)
		}
	}
}

// TestPoison: converted, arm64 reports poison as the generic table says.
func TestPoison(t *testing.T) {
	for _, mf := range []bool{true, false} {
		_, task := newMachine(t, func(c *config.Kernel) { c.MemoryFailure = mf })
		mapFixed(t, task, base, 1, rw)
		tab, i := task.MM().PT.Alloc(base)
		tab.Lock()
		tab.Store(i, pgtable.MkMarker(pgtable.MarkerPoisoned))
		tab.Unlock()
		w := want{sig: abi.SIGBUS, code: abi.BUS_ADRERR, addr: base + 0x48}
		if mf {
			w.code, w.lsb = abi.BUS_MCEERR_AR, 12
		}
		check(t, task.Read(base+0x48|tag), w)
	}
}

func TestArchBasics(t *testing.T) {
	a, task := newMachine(t)
	if a.Name() != "arm64" || a.RetByte() != 0xc0 || a.Handler() == nil {
		t.Errorf("Name %q RetByte %#x", a.Name(), a.RetByte())
	}
	if a.TaskSize() != 1<<48 || a.MmapBase() != 1<<48-256<<20 {
		t.Errorf("TaskSize %#x MmapBase %#x", a.TaskSize(), a.MmapBase())
	}
	out := task.Mmap(kernel.MmapArgs{Length: pg, Prot: rw})
	if out.Kind != kernel.OutOK || out.Value >= 1<<48 || out.Value < 1<<47 {
		t.Errorf("mmap without an address = %v, want in the top half of the 48-bit range", out)
	}
	for _, tc := range []struct {
		addr, size uint64
		ok         bool
	}{
		{0, 16, true},
		{1<<48 - 16, 16, true},
		{1<<48 - 16, 17, false},
		{1 << 48, 0, true},
		{base | tag, 16, false},
		{^uint64(0) - 4, 16, false},
		{0, ^uint64(0), false},
	} {
		if got := a.AccessOK(tc.addr, tc.size); got != tc.ok {
			t.Errorf("AccessOK(%#x, %d) = %v, want %v", tc.addr, tc.size, got, tc.ok)
		}
	}
	for _, tc := range []struct {
		epan  bool
		flags mm.VMFlags
		want  pgtable.PTE
	}{
		{false, mm.VMExec, pgtable.User | pgtable.Read | pgtable.Exec},
		{true, mm.VMExec, pgtable.User | pgtable.Exec},
		{true, mm.VMExec | mm.VMShared, pgtable.User | pgtable.Exec},
		{true, mm.VMExec | mm.VMRead, pgtable.User | pgtable.Read | pgtable.Exec},
		{false, mm.VMWrite, pgtable.User | pgtable.Read},
		{false, mm.VMWrite | mm.VMShared, pgtable.User | pgtable.Read | pgtable.Write},
		{false, mm.VMWrite | mm.VMExec | mm.VMShared, pgtable.User | pgtable.Read | pgtable.Write | pgtable.Exec},
		{false, 0, 0},
		{false, mm.VMShared, 0},
	} {
		b := arm64.New(config.Kernel{EPAN: tc.epan})
		if got := b.PageProt(tc.flags, 0); got != tc.want {
			t.Errorf("epan=%v PageProt(%v) = %v, want %v", tc.epan, tc.flags, got, tc.want)
		}
	}
	for _, tc := range []struct{ addr, want uint64 }{
		{base | tag, base},
		{0xff00_0000_1000_0000, 0x1000_0000},
		{0xffff_8000_0000_0000, 0xffff_8000_0000_0000},
		{0x0080_0000_0000_0000, 0x0080_0000_0000_0000},
	} {
		if got := arm64.UntaggedAddr(tc.addr); got != tc.want {
			t.Errorf("UntaggedAddr(%#x) = %#x, want %#x", tc.addr, got, tc.want)
		}
	}
}
