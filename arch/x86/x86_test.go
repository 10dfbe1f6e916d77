package x86_test

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch/x86"
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

	vsys = x86.VsyscallAddr
)

func newMachine(t *testing.T, opts ...func(*config.Kernel)) (*x86.Arch, *kernel.Task) {
	t.Helper()
	cfg := config.Default()
	for _, o := range opts {
		o(&cfg)
	}
	a := x86.New(cfg)
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

func pte(task *kernel.Task, addr uint64) pgtable.PTE {
	tab, i := task.MM().PT.Lookup(addr)
	if tab == nil {
		return 0
	}
	return tab.Load(i)
}

// layout maps the pages TestTranslate uses, one per row of this list.
var layout = []struct {
	prot  mm.Prot
	touch mm.Access // how the page is populated
	fresh bool      // left unpopulated
}{
	{rw, mm.AccessWrite, false}, // 0: present, writable, NX
	{ro, mm.AccessRead, false},  // 1: present, read-only (the zero page)
	{rw, 0, true},               // 2: not present
	{rx, mm.AccessExec, false},  // 3: present, executable, read-only
	{none, 0, true},             // 4: PROT_NONE
}

func setupLayout(t *testing.T, task *kernel.Task) {
	t.Helper()
	for i, l := range layout {
		a := base + uint64(i)*pg
		mapFixed(t, task, a, 1, l.prot)
		if !l.fresh {
			if out := access(task, l.touch, a); out.Kind != kernel.OutOK {
				t.Fatalf("populating page %d: %v", i, out)
			}
		}
	}
}

// TestTranslate checks the MMU: what translates, and the trap number and
// error code (P, W, U, I, PK bits) of what does not.
func TestTranslate(t *testing.T) {
	const kernelMode, user = false, true
	tests := []struct {
		name    string
		addr    uint64
		acc     mm.Access
		user    bool
		uaccess bool
		ok      bool
		trap    int
		hw      uint64
		hwMask  uint64 // bits of hw compared; 0 means all
		pkeys   bool
	}{
		{"user read of a present page", base, mm.AccessRead, user, false, true, 0, 0, 0, false},
		{"user write of a present writable page", base, mm.AccessWrite, user, false, true, 0, 0, 0, false},
		{"user read, not present", base + 2*pg, mm.AccessRead, user, false, false, x86.TrapPF, 0x4, 0, false},
		{"user write, not present", base + 2*pg, mm.AccessWrite, user, false, false, x86.TrapPF, 0x6, 0, false},
		{"user fetch, not present", base + 2*pg, mm.AccessExec, user, false, false, x86.TrapPF, 0x14, 0, false},
		{"user read, no page table", 0x7f0000000000, mm.AccessRead, user, false, false, x86.TrapPF, 0x4, 0, false},
		{"user write, write-protected", base + pg, mm.AccessWrite, user, false, false, x86.TrapPF, 0x7, 0, false},
		{"user fetch, NX", base, mm.AccessExec, user, false, false, x86.TrapPF, 0x15, 0, false},
		{"user fetch, executable", base + 3*pg, mm.AccessExec, user, false, true, 0, 0, 0, false},
		{"user write, read-only executable", base + 3*pg, mm.AccessWrite, user, false, false, x86.TrapPF, 0x7, 0, false},
		{"user read, PROT_NONE entry", base + 4*pg, mm.AccessRead, user, false, false, x86.TrapPF, 0x4, 0, false},
		{"kernel uaccess read, not present", base + 2*pg, mm.AccessRead, kernelMode, true, false, x86.TrapPF, 0x0, 0, false},
		{"kernel uaccess write, not present", base + 2*pg, mm.AccessWrite, kernelMode, true, false, x86.TrapPF, 0x2, 0, false},
		{"kernel uaccess write, write-protected", base + pg, mm.AccessWrite, kernelMode, true, false, x86.TrapPF, 0x3, 0, false},
		{"kernel uaccess read, present", base, mm.AccessRead, kernelMode, true, true, 0, 0, 0, false},
		{"kernel fetch of a user page (SMEP)", base + 3*pg, mm.AccessExec, kernelMode, true, false, x86.TrapPF, 0x11, 0, false},
		{"kernel read outside uaccess (SMAP)", base, mm.AccessRead, kernelMode, false, false, x86.TrapPF, 0x1, 0, false},
		{"user read of the kernel half", 0xffff800000000000, mm.AccessRead, user, false, false, x86.TrapPF, 0x4, ^x86.PFProt, false},
		{"user read of kernel text", 0xffffffff81000000, mm.AccessRead, user, false, false, x86.TrapPF, 0x4, ^x86.PFProt, false},
		{"user write of kernel text", 0xffffffff81000000, mm.AccessWrite, user, false, false, x86.TrapPF, 0x6, ^x86.PFProt, false},
		{"user fetch of kernel text", 0xffffffff81000000, mm.AccessExec, user, false, false, x86.TrapPF, 0x14, ^x86.PFProt, false},
		{"user read of the top user page", 1<<47 - pg, mm.AccessRead, user, false, false, x86.TrapPF, 0x4, ^x86.PFProt, false},
		{"non-canonical, top bit", 0x8000000000000000, mm.AccessRead, user, false, false, x86.TrapGP, 0, 0, false},
		{"non-canonical, bit 47", 0x0000800000000000, mm.AccessWrite, user, false, false, x86.TrapGP, 0, 0, false},
		{"non-canonical, just below the kernel half", 0xffff7fffffffffff, mm.AccessExec, user, false, false, x86.TrapGP, 0, 0, false},
		{"non-canonical from the kernel", 0x8000000000000000, mm.AccessRead, kernelMode, true, false, x86.TrapGP, 0, 0, false},
		{"pkeys: user read of an exec-only page", base + 5*pg, mm.AccessRead, user, false, false, x86.TrapPF, 0x25, 0, true},
		{"pkeys: user fetch of an exec-only page", base + 5*pg, mm.AccessExec, user, false, true, 0, 0, 0, true},
		{"pkeys: kernel uaccess read of an exec-only page", base + 5*pg, mm.AccessRead, kernelMode, true, false, x86.TrapPF, 0x21, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, task := newMachine(t, func(c *config.Kernel) { c.PKeys = tc.pkeys })
			setupLayout(t, task)
			if tc.pkeys {
				mapFixed(t, task, base+5*pg, 1, xo)
				if out := task.Exec(base + 5*pg); out.Kind != kernel.OutOK {
					t.Fatalf("exec of exec-only memory: %v", out)
				}
			}
			before := pte(task, tc.addr)
			r := &kernel.Regs{Addr: tc.addr, Access: tc.acc, User: tc.user, UAccess: tc.uaccess, Insn: kernel.InsnCopyFromUser}
			if tc.user {
				r.Insn = kernel.InsnUser
			}
			page := a.Translate(task, r)
			if (page != nil) != tc.ok {
				t.Fatalf("Translate = %v, want success %v (trap %d hw %#x)", page, tc.ok, r.Trap, r.HW)
			}
			if tc.ok {
				if page.PFN() != before.PFN() {
					t.Errorf("translated to pfn %d, entry has %d", page.PFN(), before.PFN())
				}
				after := pte(task, tc.addr)
				want := before | pgtable.Accessed
				if tc.acc == mm.AccessWrite {
					want |= pgtable.Dirty
				}
				if after != want {
					t.Errorf("entry after the access %v, want %v", after, want)
				}
				return
			}
			mask := tc.hwMask
			if mask == 0 {
				mask = ^uint64(0)
			}
			if r.Trap != tc.trap || r.HW&mask != tc.hw&mask {
				t.Errorf("trap %d error code %#x, want trap %d error code %#x (mask %#x)", r.Trap, r.HW, tc.trap, tc.hw, mask)
			}
			if after := pte(task, tc.addr); after != before {
				t.Errorf("a failed translation changed the entry from %v to %v", before, after)
			}
		})
	}
}

// TestTranslate5Level: with LA57 the canonical range grows to 57 bits.
func TestTranslate5Level(t *testing.T) {
	tests := []struct {
		addr uint64
		trap int
	}{
		{0x0000800000000000, x86.TrapPF},
		{0x00ff000000000000, x86.TrapPF},
		{0x0100000000000000, x86.TrapGP},
		{0xff00000000000000, x86.TrapPF},
		{0xfe00000000000000, x86.TrapGP},
	}
	a, task := newMachine(t, func(c *config.Kernel) { c.PgtableLevels = 5 })
	for _, tc := range tests {
		r := &kernel.Regs{Addr: tc.addr, Access: mm.AccessRead, User: true}
		if a.Translate(task, r) != nil || r.Trap != tc.trap {
			t.Errorf("%#x: trap %d, want %d", tc.addr, r.Trap, tc.trap)
		}
	}
}

type outcome struct {
	kind  kernel.OutcomeKind
	value uint64
	sig   abi.Signal
	code  abi.Code
	addr  uint64
	lsb   uint8
}

func ok(v uint64) outcome { return outcome{kind: kernel.OutOK, value: v} }
func segv(code abi.Code, addr uint64) outcome {
	return outcome{kind: kernel.OutSignal, sig: abi.SIGSEGV, code: code, addr: addr}
}
func bus(code abi.Code, addr uint64, lsb uint8) outcome {
	return outcome{kind: kernel.OutSignal, sig: abi.SIGBUS, code: code, addr: addr, lsb: lsb}
}

func check(t *testing.T, got kernel.Outcome, want outcome) {
	t.Helper()
	switch want.kind {
	case kernel.OutOK:
		if got.Kind != kernel.OutOK || got.HasValue && got.Value != want.value {
			t.Fatalf("outcome %v, want ok %#x", got, want.value)
		}
	case kernel.OutSignal:
		if got.Kind != kernel.OutSignal || got.Info.Signo != want.sig || got.Info.Code != want.code || got.Info.Addr != want.addr || got.Info.LSB != want.lsb {
			t.Fatalf("outcome %v, want %v %s @%#x lsb %d", got, want.sig, abi.CodeName(want.sig, want.code), want.addr, want.lsb)
		}
	default:
		if got.Kind != want.kind {
			t.Fatalf("outcome %v, want kind %d", got, want.kind)
		}
	}
}

// TestUserAccess checks user-mode accesses against the host observations
// (groups unmapped, prot, x86, guard).
func TestUserAccess(t *testing.T) {
	const m = base // a 4-page region: the second page is unmapped
	tests := []struct {
		name  string
		prot  mm.Prot // of pages 0, 2 and 3
		acc   mm.Access
		addr  uint64
		want  outcome
		setup func(t *testing.T, task *kernel.Task)
	}{
		{"unmapped_read", rw, mm.AccessRead, m + 0x1010, segv(abi.SEGV_MAPERR, m+0x1010), nil},
		{"unmapped_write", rw, mm.AccessWrite, m + 0x1010, segv(abi.SEGV_MAPERR, m+0x1010), nil},
		{"unmapped_exec", rw, mm.AccessExec, m + 0x1010, segv(abi.SEGV_MAPERR, m+0x1010), nil},
		{"null_read", rw, mm.AccessRead, 0, segv(abi.SEGV_MAPERR, 0), nil},
		{"null_write", rw, mm.AccessWrite, 0, segv(abi.SEGV_MAPERR, 0), nil},
		{"null_exec", rw, mm.AccessExec, 0, segv(abi.SEGV_MAPERR, 0), nil},
		{"null_page_offset_read", rw, mm.AccessRead, 0x7f0, segv(abi.SEGV_MAPERR, 0x7f0), nil},
		{"prot_none_read", none, mm.AccessRead, m + 0x20, segv(abi.SEGV_ACCERR, m+0x20), nil},
		{"prot_none_write", none, mm.AccessWrite, m + 0x20, segv(abi.SEGV_ACCERR, m+0x20), nil},
		{"prot_none_exec", none, mm.AccessExec, m + 0x20, segv(abi.SEGV_ACCERR, m+0x20), nil},
		{"prot_read_write", ro, mm.AccessWrite, m + 0x20, segv(abi.SEGV_ACCERR, m+0x20), nil},
		{"prot_read_exec", ro, mm.AccessExec, m + 0x20, segv(abi.SEGV_ACCERR, m+0x20), nil},
		{"prot_rw_exec", rw, mm.AccessExec, m + 0x20, segv(abi.SEGV_ACCERR, m+0x20), nil},
		{"prot_rx_exec", rx, mm.AccessExec, m + 0x20, ok(0), nil},
		{"prot_exec_only_fresh_read", xo, mm.AccessRead, m + 0x20, ok(0), nil},
		{"prot_exec_only_write", xo, mm.AccessWrite, m + 0x20, segv(abi.SEGV_ACCERR, m+0x20), nil},
		{"prot_exec_only_exec", xo, mm.AccessExec, m + 0x20, ok(0), nil},
		{"prot_write_only_read", wo, mm.AccessRead, m + 0x20, ok(0), nil},
		{"prot_write_only_write", wo, mm.AccessWrite, m + 0x20, ok(0), nil},
		{"mprotect_after_populate_write", rw, mm.AccessWrite, m + 0x8, segv(abi.SEGV_ACCERR, m+0x8), func(t *testing.T, k *kernel.Task) {
			if out := k.Write(m+8, 0x11); out.Kind != kernel.OutOK {
				t.Fatal(out)
			}
			if out := k.Mprotect(m, pg, ro); out.Kind != kernel.OutOK {
				t.Fatal(out)
			}
		}},
		{"mprotect_after_populate_read", rw, mm.AccessRead, m + 0x8, ok(0x11), func(t *testing.T, k *kernel.Task) {
			k.Write(m+8, 0x11)
			k.Mprotect(m, pg, ro)
		}},
		{"mprotect_none_then_rw_read", rw, mm.AccessRead, m + 0x8, ok(0x22), func(t *testing.T, k *kernel.Task) {
			k.Write(m+8, 0x22)
			k.Mprotect(m, pg, none)
			k.Mprotect(m, pg, rw)
		}},
		{"kernel_half_read", rw, mm.AccessRead, 0xffff800000000000, segv(abi.SEGV_MAPERR, 0xffff800000000000), nil},
		{"kernel_text_read", rw, mm.AccessRead, 0xffffffff81000000, segv(abi.SEGV_MAPERR, 0xffffffff81000000), nil},
		{"kernel_text_write", rw, mm.AccessWrite, 0xffffffff81000000, segv(abi.SEGV_MAPERR, 0xffffffff81000000), nil},
		{"kernel_text_exec", rw, mm.AccessExec, 0xffffffff81000000, segv(abi.SEGV_MAPERR, 0xffffffff81000000), nil},
		{"user_top_page_read", rw, mm.AccessRead, 0x7ffffffff000, segv(abi.SEGV_MAPERR, 0x7ffffffff000), nil},
		{"user_below_top_read", rw, mm.AccessRead, 0x7fffffffe000, segv(abi.SEGV_MAPERR, 0x7fffffffe000), nil},
		{"noncanonical_read", rw, mm.AccessRead, 0x8000000000000000, segv(abi.SI_KERNEL, 0), nil},
		{"noncanonical_write", rw, mm.AccessWrite, 0x8000000000000000, segv(abi.SI_KERNEL, 0), nil},
		{"noncanonical_exec", rw, mm.AccessExec, 0x8000000000000000, segv(abi.SI_KERNEL, 0), nil},
		{"noncanonical_low_read", rw, mm.AccessRead, 0x0000800000000000, segv(abi.SI_KERNEL, 0), nil},
		{"noncanonical_low_exec", rw, mm.AccessExec, 0x0000800000000000, segv(abi.SI_KERNEL, 0), nil},
		{"guard_read", rw, mm.AccessRead, m + 0x2030, segv(abi.SEGV_MAPERR, m+0x2030), guard},
		{"guard_write", rw, mm.AccessWrite, m + 0x2030, segv(abi.SEGV_MAPERR, m+0x2030), guard},
		{"guard_exec", rw | mm.ProtExec, mm.AccessExec, m + 0x2030, segv(abi.SEGV_MAPERR, m+0x2030), guard},
		{"guard_neighbour_read", rw, mm.AccessRead, m + 0x3030, ok(0), guard},
		{"guard_remove_read", rw, mm.AccessRead, m + 0x2030, ok(0), func(t *testing.T, k *kernel.Task) {
			k.Write(m+0x2030, 0x67)
			guard(t, k)
			if out := k.Madvise(m+2*pg, pg, kernel.MadvGuardRemove); out.Kind != kernel.OutOK {
				t.Fatal(out)
			}
		}},
		{"guard_survives_dontneed", rw, mm.AccessRead, m + 0x2030, segv(abi.SEGV_MAPERR, m+0x2030), func(t *testing.T, k *kernel.Task) {
			guard(t, k)
			k.Madvise(m, 4*pg, kernel.MadvDontneed)
		}},
		{"guard_mprotect_roundtrip", rw, mm.AccessRead, m + 0x2008, segv(abi.SEGV_MAPERR, m+0x2008), func(t *testing.T, k *kernel.Task) {
			guard(t, k)
			k.Mprotect(m+2*pg, 2*pg, none)
			k.Mprotect(m+2*pg, 2*pg, rw)
		}},
		{"anon_dontneed_then_read", rw, mm.AccessRead, m + 8, ok(0), func(t *testing.T, k *kernel.Task) {
			k.Write(m+8, 0x33)
			k.Madvise(m, pg, kernel.MadvDontneed)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, task := newMachine(t)
			mapFixed(t, task, m, 1, tc.prot)
			mapFixed(t, task, m+2*pg, 2, tc.prot)
			if tc.setup != nil {
				tc.setup(t, task)
			}
			out := access(task, tc.acc, tc.addr)
			check(t, out, tc.want)
			if dead, _ := task.Dead(); dead {
				t.Fatal("the task died")
			}
			// The fault signal is the access's outcome, the runner's to
			// take: the scenario's handler count does not move.
			if tc.want.kind == kernel.OutSignal && task.Caught(tc.want.sig) != 0 {
				t.Errorf("handler for %v ran %d times for a fault signal, want 0", tc.want.sig, task.Caught(tc.want.sig))
			}
		})
	}
}

func guard(t *testing.T, task *kernel.Task) {
	t.Helper()
	if out := task.Madvise(base+2*pg, pg, kernel.MadvGuardInstall); out.Kind != kernel.OutOK {
		t.Fatal(out)
	}
}

// TestExecAfterRead: a fetch from a readable, non-executable page that is
// not present maps it first and then fails on NX (two faults).
func TestExecAfterRead(t *testing.T) {
	_, task := newMachine(t)
	mapFixed(t, task, base, 1, rw)
	check(t, task.Exec(base+0x10), segv(abi.SEGV_ACCERR, base+0x10))
	if p := pte(task, base); !p.Present() {
		t.Errorf("entry %v: the first fault should have mapped the page", p)
	}
}

func TestPoison(t *testing.T) {
	tests := []struct {
		name string
		mf   bool
		acc  mm.Access
		want outcome
	}{
		{"memory_failure=y read", true, mm.AccessRead, bus(abi.BUS_MCEERR_AR, base+0x48, 12)},
		{"memory_failure=y write", true, mm.AccessWrite, bus(abi.BUS_MCEERR_AR, base+0x48, 12)},
		{"memory_failure=n read", false, mm.AccessRead, bus(abi.BUS_ADRERR, base+0x48, 0)},
		{"memory_failure=n write", false, mm.AccessWrite, bus(abi.BUS_ADRERR, base+0x48, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, task := newMachine(t, func(c *config.Kernel) { c.MemoryFailure = tc.mf })
			mapFixed(t, task, base, 1, rw)
			tab, i := task.MM().PT.Alloc(base)
			tab.Lock()
			tab.Store(i, pgtable.MkMarker(pgtable.MarkerPoisoned))
			tab.Unlock()
			check(t, access(task, tc.acc, base+0x48), tc.want)
			if out := task.KRead(base, 16, 1); out.Kind != kernel.OutErrno || out.Errno != abi.EFAULT {
				t.Errorf("kernel read into the poisoned page = %v, want EFAULT", out)
			}
			if task.SignalPending() {
				t.Error("the kernel access left a signal pending")
			}
		})
	}
}

// TestVsyscall checks the vsyscall page in each mode against the host
// observations (vsyscall=xonly on the host).
func TestVsyscall(t *testing.T) {
	mapErr := func(a uint64) outcome { return segv(abi.SEGV_MAPERR, a) }
	kernelSegv := segv(abi.SI_KERNEL, 0)
	tests := []struct {
		name string
		mode config.Vsyscall
		acc  mm.Access
		off  uint64
		want outcome
	}{
		{"xonly read", config.VsyscallXOnly, mm.AccessRead, 0, mapErr(vsys)},
		{"xonly write", config.VsyscallXOnly, mm.AccessWrite, 0, mapErr(vsys)},
		{"xonly read inside", config.VsyscallXOnly, mm.AccessRead, 0x408, mapErr(vsys + 0x408)},
		{"xonly gettimeofday", config.VsyscallXOnly, mm.AccessExec, 0, ok(0)},
		{"xonly time", config.VsyscallXOnly, mm.AccessExec, 0x400, ok(0)},
		{"xonly getcpu", config.VsyscallXOnly, mm.AccessExec, 0x800, ok(0)},
		{"xonly misaligned", config.VsyscallXOnly, mm.AccessExec, 0x10, kernelSegv},
		{"xonly misaligned near an entry", config.VsyscallXOnly, mm.AccessExec, 0x401, kernelSegv},
		{"xonly fourth slot", config.VsyscallXOnly, mm.AccessExec, 0xc00, kernelSegv},
		{"xonly last byte", config.VsyscallXOnly, mm.AccessExec, 0xfff, kernelSegv},
		{"xonly next page", config.VsyscallXOnly, mm.AccessExec, 0x1000, mapErr(vsys + 0x1000)},
		{"emulate read", config.VsyscallEmulate, mm.AccessRead, 0, ok(0x48)},
		{"emulate read of the syscall insn", config.VsyscallEmulate, mm.AccessRead, 0x407, ok(0x0f)},
		{"emulate read of padding", config.VsyscallEmulate, mm.AccessRead, 0x100, ok(0xcc)},
		{"emulate write", config.VsyscallEmulate, mm.AccessWrite, 0, mapErr(vsys)},
		{"emulate gettimeofday", config.VsyscallEmulate, mm.AccessExec, 0, ok(0)},
		{"emulate getcpu", config.VsyscallEmulate, mm.AccessExec, 0x800, ok(0)},
		{"emulate misaligned", config.VsyscallEmulate, mm.AccessExec, 0x10, kernelSegv},
		{"emulate next page read", config.VsyscallEmulate, mm.AccessRead, 0x1000, mapErr(vsys + 0x1000)},
		{"none read", config.VsyscallNone, mm.AccessRead, 0, mapErr(vsys)},
		{"none write", config.VsyscallNone, mm.AccessWrite, 0, mapErr(vsys)},
		{"none gettimeofday", config.VsyscallNone, mm.AccessExec, 0, mapErr(vsys)},
		{"none time", config.VsyscallNone, mm.AccessExec, 0x400, mapErr(vsys + 0x400)},
		{"none misaligned", config.VsyscallNone, mm.AccessExec, 0x10, mapErr(vsys + 0x10)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, task := newMachine(t, func(c *config.Kernel) { c.Vsyscall = tc.mode })
			check(t, access(task, tc.acc, vsys+tc.off), tc.want)
			// The kernel never touches the page on a user's behalf.
			if out := task.KRead(vsys+tc.off, 8, 1); out.Kind != kernel.OutErrno || out.Errno != abi.EFAULT {
				t.Errorf("kernel read of the vsyscall page = %v, want EFAULT", out)
			}
			if dead, _ := task.Dead(); dead {
				t.Error("the task died")
			}
		})
	}
}

// TestSMAP: a kernel access to user memory outside a uaccess routine is
// an oops, present page or not, fixup or not; so is a kernel fetch from
// user memory.
func TestSMAP(t *testing.T) {
	tests := []struct {
		name    string
		addr    uint64
		acc     mm.Access
		uaccess bool
		insn    kernel.Insn
		want    kernel.TrapAction
	}{
		{"read of a present page, no uaccess", base, mm.AccessRead, false, kernel.InsnBuggyDeref, kernel.Oops},
		{"write of a present page, no uaccess", base, mm.AccessWrite, false, kernel.InsnBuggyDeref, kernel.Oops},
		{"read of a present page, no uaccess, with a fixup", base, mm.AccessRead, false, kernel.InsnCopyFromUser, kernel.Oops},
		{"read of a missing page, no uaccess", base + pg, mm.AccessRead, false, kernel.InsnCopyFromUser, kernel.Oops},
		{"fetch from user memory", base, mm.AccessExec, true, kernel.InsnCopyFromUser, kernel.Oops},
		{"uaccess read of a missing page is resolved", base + pg, mm.AccessRead, true, kernel.InsnCopyFromUser, kernel.Restart},
		{"uaccess read of an unmapped page is fixed up", base + 8*pg, mm.AccessRead, true, kernel.InsnCopyFromUser, kernel.Fixup},
		{"uaccess read of an unmapped page without a fixup", base + 8*pg, mm.AccessRead, true, kernel.InsnBuggyDeref, kernel.Oops},
		{"kernel read of a non-canonical address with a fixup", 0x8000000000000000, mm.AccessRead, true, kernel.InsnCopyFromUser, kernel.Fixup},
		{"kernel read of a non-canonical address without one", 0x8000000000000000, mm.AccessRead, true, kernel.InsnBuggyDeref, kernel.Oops},
		{"kernel read of a kernel address with a fixup", 0xffffffff81000000, mm.AccessRead, true, kernel.InsnCopyFromUser, kernel.Fixup},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, task := newMachine(t)
			mapFixed(t, task, base, 2, mm.ProtRead|mm.ProtWrite|mm.ProtExec)
			if out := task.Write(base, 1); out.Kind != kernel.OutOK {
				t.Fatal(out)
			}
			before := pte(task, tc.addr)
			r := &kernel.Regs{Addr: tc.addr, Access: tc.acc, UAccess: tc.uaccess, Insn: tc.insn}
			if a.Translate(task, r) != nil {
				t.Fatal("the access translated")
			}
			if got := a.Trap(task, r); got != tc.want {
				t.Fatalf("Trap = %v, want %v", got, tc.want)
			}
			if tc.want == kernel.Oops && pte(task, tc.addr) != before {
				t.Errorf("an oopsing access changed the entry to %v", pte(task, tc.addr))
			}
			if r, w, v := task.MM().LockState(); r != 0 || w || v != 0 {
				t.Errorf("locks left held: %d %v %d", r, w, v)
			}
		})
	}
}

// TestKDerefOopsKillsTask runs an SMAP-style crash through a task.
func TestKDerefOopsKillsTask(t *testing.T) {
	_, task := newMachine(t)
	mapFixed(t, task, base, 1, rw)
	if out := task.KDeref(base+8*pg, false); out.Kind != kernel.OutOops {
		t.Fatalf("kderef = %v, want oops", out)
	}
	if dead, sig := task.Dead(); !dead || sig != abi.SIGKILL {
		t.Fatalf("dead %v by %v, want killed", dead, sig)
	}
}

// TestPKeys: with protection keys, PROT_EXEC-only memory gets the
// execute-only key: data accesses fail with SEGV_PKUERR, fetches work,
// kernel copies fail.
func TestPKeys(t *testing.T) {
	tests := []struct {
		name  string
		prot  mm.Prot
		acc   mm.Access
		first mm.Access // an access made before, -1: none
		want  outcome
	}{
		{"exec-only read", xo, mm.AccessRead, -1, segv(abi.SEGV_PKUERR, base+0x20)},
		{"exec-only read after exec", xo, mm.AccessRead, mm.AccessExec, segv(abi.SEGV_PKUERR, base+0x20)},
		{"exec-only write", xo, mm.AccessWrite, -1, segv(abi.SEGV_PKUERR, base+0x20)},
		{"exec-only exec", xo, mm.AccessExec, -1, ok(0)},
		{"read-exec read", rx, mm.AccessRead, -1, ok(0)},
		{"rw read", rw, mm.AccessRead, -1, ok(0)},
		{"rw write", rw, mm.AccessWrite, -1, ok(0)},
		{"prot none read", none, mm.AccessRead, -1, segv(abi.SEGV_ACCERR, base+0x20)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, task := newMachine(t, func(c *config.Kernel) { c.PKeys = true })
			mapFixed(t, task, base, 1, tc.prot)
			if tc.first >= 0 {
				if out := access(task, tc.first, base); out.Kind != kernel.OutOK {
					t.Fatal(out)
				}
			}
			out := access(task, tc.acc, base+0x20)
			check(t, out, tc.want)
			if tc.want.code == abi.SEGV_PKUERR && out.Info.PKey != 1 {
				t.Errorf("si_pkey = %d, want the execute-only key 1", out.Info.PKey)
			}
		})
	}
}

func TestPKeysUaccess(t *testing.T) {
	_, task := newMachine(t, func(c *config.Kernel) { c.PKeys = true })
	mapFixed(t, task, base, 1, xo)
	if out := task.KRead(base, 16, 1); out.Kind != kernel.OutErrno || out.Errno != abi.EFAULT {
		t.Errorf("read(2) into exec-only = %v, want EFAULT", out)
	}
	if out := task.KWrite(base, 16); out.Kind != kernel.OutErrno || out.Errno != abi.EFAULT {
		t.Errorf("write(2) from exec-only = %v, want EFAULT", out)
	}
	if task.SignalPending() {
		t.Error("a kernel access left a signal")
	}
	// mprotect to PROT_READ|PROT_EXEC drops the execute-only key.
	if out := task.Mprotect(base, pg, rx); out.Kind != kernel.OutOK {
		t.Fatal(out)
	}
	check(t, task.Read(base), ok(0))
	if out := task.KWrite(base, 16); out.Kind != kernel.OutOK || out.Value != 16 {
		t.Errorf("write(2) from read-exec = %v", out)
	}
	// And back to exec-only gives it again.
	task.Mprotect(base, pg, xo)
	check(t, task.Read(base+1), segv(abi.SEGV_PKUERR, base+1))
}

// TestNoPKeys: without keys exec-only memory is readable (host
// observation 5).
func TestNoPKeys(t *testing.T) {
	_, task := newMachine(t)
	mapFixed(t, task, base, 1, xo)
	check(t, task.Exec(base), ok(0))
	check(t, task.Read(base), ok(0))
	if out := task.KWrite(base, 16); out.Kind != kernel.OutOK || out.Value != 16 {
		t.Errorf("write(2) from exec-only = %v, want 16", out)
	}
}

func Test5Level(t *testing.T) {
	a, task := newMachine(t, func(c *config.Kernel) { c.PgtableLevels = 5 })
	if got := a.TaskSize(); got != 1<<56-pg {
		t.Fatalf("TaskSize() = %#x, want %#x", got, uint64(1<<56-pg))
	}
	if task.MM().PT.Levels() != 5 {
		t.Fatalf("page tables have %d levels", task.MM().PT.Levels())
	}
	const high = uint64(1) << 50
	mapFixed(t, task, high, 2, rw)
	check(t, task.Write(high+pg+3, 0x77), ok(0))
	check(t, task.Read(high+pg+3), ok(0x77))
	check(t, task.Read(1<<48), segv(abi.SEGV_MAPERR, 1<<48))
	check(t, task.Read(1<<57), segv(abi.SI_KERNEL, 0))
	// The default map window stays below 47 bits.
	out := task.Mmap(kernel.MmapArgs{Length: pg, Prot: rw})
	if out.Kind != kernel.OutOK || out.Value >= 1<<47 {
		t.Errorf("mmap without an address = %v, want below 1<<47", out)
	}
}

func TestArchBasics(t *testing.T) {
	a, _ := newMachine(t)
	if a.Name() != "x86_64" || a.RetByte() != 0xc3 || a.Handler() == nil {
		t.Errorf("Name %q RetByte %#x", a.Name(), a.RetByte())
	}
	if a.TaskSize() != 1<<47-pg || a.MmapBase() >= a.TaskSize() {
		t.Errorf("TaskSize %#x MmapBase %#x", a.TaskSize(), a.MmapBase())
	}
	tests := []struct {
		addr, size uint64
		ok         bool
	}{
		{0, 16, true},
		{1<<47 - pg - 16, 16, true},
		{1<<47 - pg - 16, 17, false},
		{1<<47 - pg, 0, true},
		{^uint64(0) - 4, 16, false},
		{vsys, 8, false},
	}
	for _, tc := range tests {
		if got := a.AccessOK(tc.addr, tc.size); got != tc.ok {
			t.Errorf("AccessOK(%#x, %d) = %v, want %v", tc.addr, tc.size, got, tc.ok)
		}
	}
}
