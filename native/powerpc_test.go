package native

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch/powerpc"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/vmfault"
)

// ppcMachine is a ppc64le machine for the tests of this file: the native
// handler, or the generic front end, resolving with s when set.
type ppcMachine struct {
	arch kernel.Arch
	k    *kernel.Kernel
	task *kernel.Task
}

func newPPC(t *testing.T, version config.Version, memoryFailure, generic bool, s *script) *ppcMachine {
	t.Helper()
	cfg := config.Default()
	cfg.Version, cfg.MemoryFailure = version, memoryFailure
	var a kernel.Arch
	if generic {
		g := powerpc.New(cfg)
		if s != nil {
			g.Handler().Resolve = s.resolve
		}
		g.Handler().MaxRetries = 50
		a = g
	} else {
		n := NewPPC(cfg)
		if s != nil {
			n.Resolve = s.resolve
		}
		n.MaxRetries = 50
		a = n
	}
	k := kernel.New(cfg, a)
	t.Cleanup(k.Shutdown)
	m := &ppcMachine{arch: a, k: k, task: k.Spawn("t")}
	if out := m.task.Sigaction(abi.SIGUSR1, kernel.SigCatch); out.Kind != kernel.OutOK {
		t.Fatalf("sigaction: %v", out)
	}
	return m
}

func (m *ppcMachine) access(kind string, addr uint64) kernel.Outcome {
	return accessOf(&machine{k: m.k, task: m.task}, kind, addr)
}

// ppcOut is an outcome with the poison's si_addr_lsb, which check does not
// compare.
type ppcOut struct {
	outcome
	lsb uint8
}

func (w ppcOut) matches(got kernel.Outcome) bool {
	switch w.kind {
	case kernel.OutSignal:
		return got.Kind == w.kind && got.Info.Signo == w.sig && got.Info.Code == w.code && got.Info.Addr == w.addr && got.Info.LSB == w.lsb
	case kernel.OutOK:
		return got.Kind == w.kind && (!got.HasValue || got.Value == w.value)
	case kernel.OutErrno:
		return got.Kind == w.kind && uint64(got.Errno) == w.value
	case kernel.OutKilled:
		return got.Kind == w.kind && got.Signal == w.sig
	}
	return got.Kind == w.kind
}

func po(o outcome) ppcOut { return ppcOut{outcome: o} }

// TestPPCPaths drives ___do_page_fault, mm_fault_error, do_sigbus and
// bad_page_fault through the machine, with the real handle_mm_fault where
// it reaches the path and a scripted result where only a rare state of
// memory would; the generic front end must give the same outcome on the
// same script (the rule kernel-fault-signal-number changes no outcome).
func TestPPCPaths(t *testing.T) {
	const (
		rw = mm.ProtRead | mm.ProtWrite
		ro = mm.ProtRead
		xo = mm.ProtExec
		rx = mm.ProtRead | mm.ProtExec
	)
	r := vmfault.Retry
	hp := vmfault.HWPoisonLarge | vmfault.SetHIndex(1) // a 1 GiB page
	tests := []struct {
		name    string
		version config.Version
		mf      bool // CONFIG_MEMORY_FAILURE
		prot    mm.Prot
		s       *script
		access  string
		addr    uint64 // offset from base
		want    ppcOut
		sigRule bool // the native run notes kernel-fault-signal-number
	}{
		{name: "user read resolved", version: v618, prot: rw, access: "read", want: po(ok(0))},
		{name: "user write resolved 6.1", version: v61, prot: rw, access: "write", want: po(ok(0))},
		{name: "no VMA", version: v618, prot: rw, access: "read", addr: 8 * pg, want: po(sig(abi.SIGSEGV, abi.SEGV_MAPERR, base+8*pg))},
		{name: "write to read-only (phase A)", version: v618, prot: ro, access: "write", addr: 5, want: po(sig(abi.SIGSEGV, abi.SEGV_ACCERR, base+5))},
		{name: "write to read-only before 6.10 (the mmap lock finds it again)", version: v68, prot: ro, access: "write", want: po(sig(abi.SIGSEGV, abi.SEGV_ACCERR, base))},
		{name: "write to read-only 6.1", version: v61, prot: ro, access: "write", want: po(sig(abi.SIGSEGV, abi.SEGV_ACCERR, base))},
		{name: "read of exec-only: refused on radix", version: v618, prot: xo, access: "read", addr: 0x20, want: po(sig(abi.SIGSEGV, abi.SEGV_ACCERR, base+0x20))},
		{name: "read of exec-only 6.1", version: v61, prot: xo, access: "read", want: po(sig(abi.SIGSEGV, abi.SEGV_ACCERR, base))},
		{name: "read of read-exec", version: v618, prot: rx, access: "read", want: po(ok(0))},
		{name: "fetch of read-write", version: v618, prot: rw, access: "exec", want: po(sig(abi.SIGSEGV, abi.SEGV_ACCERR, base))},
		{name: "kernel copy from exec-only: fixup", version: v618, prot: xo, access: "kwrite", want: po(errno(abi.EFAULT))},
		{name: "kernel copy, no VMA: fixup", version: v618, prot: rw, access: "kread", addr: 8 * pg, want: po(errno(abi.EFAULT))},
		{name: "kernel dereference, no VMA: die", version: v618, prot: rw, access: "kderef", addr: 8 * pg, want: po(oops)},

		// mm_fault_error, user mode.
		{name: "OOM: pagefault_out_of_memory, the access retries", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.OOM}}, access: "read", want: po(ok(0))},
		{name: "SIGBUS", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.SigBus}}, access: "read", addr: 3, want: po(sig(abi.SIGBUS, abi.BUS_ADRERR, base+3))},
		{name: "SIGSEGV", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.SigSegv}}, access: "write", want: po(sig(abi.SIGSEGV, abi.SEGV_MAPERR, base))},
		{name: "poison: MCEERR_AR lsb 12", version: v618, mf: true, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.HWPoison}}, access: "read", want: ppcOut{sig(abi.SIGBUS, abi.BUS_MCEERR_AR, base), 12}},
		{name: "huge poison: the hstate's shift", version: v618, mf: true, prot: rw, s: &script{rets: []vmfault.Reason{hp}}, access: "read", want: ppcOut{sig(abi.SIGBUS, abi.BUS_MCEERR_AR, base), 30}},
		{name: "both poison bits: the small page wins", version: v618, mf: true, prot: rw, s: &script{rets: []vmfault.Reason{hp | vmfault.HWPoison}}, access: "read", want: ppcOut{sig(abi.SIGBUS, abi.BUS_MCEERR_AR, base), 12}},
		{name: "SIGBUS and poison: MCEERR", version: v61, mf: true, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.SigBus | vmfault.HWPoison}}, access: "read", want: ppcOut{sig(abi.SIGBUS, abi.BUS_MCEERR_AR, base), 12}},
		{name: "poison without MEMORY_FAILURE: ADRERR", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.HWPoison}}, access: "read", want: po(sig(abi.SIGBUS, abi.BUS_ADRERR, base))},
		{name: "poison and SIGSEGV: the SIGBUS branch first", version: v618, mf: true, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.HWPoison | vmfault.SigSegv}}, access: "read", want: ppcOut{sig(abi.SIGBUS, abi.BUS_MCEERR_AR, base), 12}},
		{name: "OOM before SIGBUS", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.OOM | vmfault.SigBus}}, access: "read", want: po(ok(0))},

		// Kernel mode: a signal number for bad_page_fault, then the fixup.
		{name: "kernel copy OOM: SIGSEGV, fixup", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.OOM}}, access: "kread", want: po(errno(abi.EFAULT)), sigRule: true},
		{name: "kernel copy poison: SIGBUS, fixup", version: v618, mf: true, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.HWPoison}}, access: "kwrite", want: po(errno(abi.EFAULT))},
		{name: "kernel copy SIGSEGV: fixup", version: v61, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.SigSegv}}, access: "kread", want: po(errno(abi.EFAULT))},
		{name: "kernel dereference SIGBUS: die", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.SigBus}}, access: "kderef", want: po(oops)},
		{name: "kernel copy, error with a fatal signal: SIGKILL, fixup", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.SigBus}, signal: abi.SIGKILL}, access: "kread", want: po(killed), sigRule: true},

		// RETRY and COMPLETED.
		{name: "RETRY, then resolved", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{r, r | vmfault.Major}}, access: "read", want: po(ok(0))},
		{name: "RETRY for ever: livelock", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{r}, repeat: true}, access: "read", want: po(livelock)},
		{name: "COMPLETED under the VMA lock", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.Completed}}, access: "read", want: po(ok(0))},
		{name: "COMPLETED under the mmap lock", version: v61, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.Completed}}, access: "write", want: po(ok(0))},
		{name: "user RETRY, fatal signal", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{r}, signal: abi.SIGKILL}, access: "read", want: po(killed)},
		{name: "kernel copy RETRY, fatal signal: SIGBUS, fixup", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{r}, repeat: true, signal: abi.SIGKILL}, access: "kread", want: po(killed), sigRule: true},
		{name: "6.1 kernel copy RETRY, fatal signal: SIGBUS, fixup (no livelock)", version: v61, prot: rw, s: &script{rets: []vmfault.Reason{r}, repeat: true, signal: abi.SIGKILL}, access: "kread", want: po(killed), sigRule: true},
		{name: "kernel copy RETRY, caught signal: retried", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{r}, signal: abi.SIGUSR1}, access: "kread", want: po(ok(8))},
		{name: "user RETRY, caught signal: handler, then the access again", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{r}, signal: abi.SIGUSR1}, access: "read", want: po(ok(0))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gs := tc.s.clone()
			m := newPPC(t, tc.version, tc.mf, false, tc.s)
			mapFixedPPC(t, m, tc.prot)
			got := m.access(tc.access, base+tc.addr)
			if !tc.want.matches(got) {
				t.Fatalf("native: %v (lsb %d), want %+v", got, got.Info.LSB, tc.want)
			}
			if rd, w, v := m.task.MM().LockState(); rd != 0 || w || v != 0 {
				t.Errorf("locks held after the fault: %d readers, writer %v, %d VMA readers", rd, w, v)
			}
			noted := rules(m.k.RulesNoted())
			if tc.sigRule != (len(noted) == 1 && noted[0] == "kernel-fault-signal-number") || len(noted) > 1 {
				t.Errorf("rules noted %v, want kernel-fault-signal-number: %v", noted, tc.sigRule)
			}
			g := newPPC(t, tc.version, tc.mf, true, gs)
			mapFixedPPC(t, g, tc.prot)
			if gout := g.access(tc.access, base+tc.addr); gout != got {
				t.Errorf("the generic front end gives %v, the native handler %v", gout, got)
			}
		})
	}
}

func mapFixedPPC(t *testing.T, m *ppcMachine, prot mm.Prot) {
	t.Helper()
	out := m.task.Mmap(kernel.MmapArgs{Addr: base, Length: 2 * pg, Prot: prot, Fixed: true})
	if out.Kind != kernel.OutOK || out.Value != base {
		t.Fatalf("mmap: %v", out)
	}
}

// TestPPCFlags checks the FAULT_FLAG_* of each attempt: from DSISR and
// the vector, FAULT_FLAG_USER, the per-VMA lock from 6.4 for user faults
// only, FAULT_FLAG_TRIED after a RETRY (after a phase-A one only when
// major).
func TestPPCFlags(t *testing.T) {
	const (
		d    = vmfault.FlagDefault
		u    = vmfault.FlagUser
		w    = vmfault.FlagWrite
		x    = vmfault.FlagInstruction
		vl   = vmfault.FlagVMALock
		tr   = vmfault.FlagTried
		rwx  = mm.ProtRead | mm.ProtWrite | mm.ProtExec
		done = vmfault.Reason(0)
	)
	r := vmfault.Retry
	v63 := config.Version{Major: 6, Minor: 3}
	v64 := config.Version{Major: 6, Minor: 4}
	tests := []struct {
		name    string
		version config.Version
		access  string
		rets    []vmfault.Reason
		want    []vmfault.Flags
	}{
		{"read", v618, "read", []vmfault.Reason{done}, []vmfault.Flags{d | u | vl}},
		{"store: DSISR_ISSTORE", v618, "write", []vmfault.Reason{done}, []vmfault.Flags{d | u | w | vl}},
		{"fetch: the ISI", v618, "exec", []vmfault.Reason{done}, []vmfault.Flags{d | u | x | vl}},
		{"6.4: the per-VMA lock", v64, "write", []vmfault.Reason{done}, []vmfault.Flags{d | u | w | vl}},
		{"6.3: the mmap lock", v63, "write", []vmfault.Reason{done}, []vmfault.Flags{d | u | w}},
		{"kernel copy: the mmap lock", v618, "kread", []vmfault.Reason{done}, []vmfault.Flags{d | w}},
		{"phase A RETRY: not TRIED", v618, "read", []vmfault.Reason{r, done}, []vmfault.Flags{d | u | vl, d | u}},
		{"phase A major RETRY: TRIED", v618, "read", []vmfault.Reason{r | vmfault.Major, done}, []vmfault.Flags{d | u | vl, d | u | tr}},
		{"6.1 RETRY: TRIED", v61, "read", []vmfault.Reason{r, done}, []vmfault.Flags{d | u, d | u | tr}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{rets: tc.rets}
			m := newPPC(t, tc.version, true, false, s)
			mapFixedPPC(t, m, rwx)
			if out := m.access(tc.access, base); out.Kind != kernel.OutOK {
				t.Fatalf("access: %v", out)
			}
			if len(s.calls) < len(tc.want) {
				t.Fatalf("calls %v, want %v first", s.calls, tc.want)
			}
			for i, f := range tc.want {
				if s.calls[i] != f {
					t.Errorf("call %d: flags %v, want %v", i, s.calls[i], f)
				}
			}
		})
	}
}

// TestPPCEarly: the paths before any lock, called as the interrupt entry
// would: bad DSISR bits, bad_kernel_fault (a kernel fetch, a kernel
// address, KUAP with and without an exception-table entry), faults
// disabled, and the segment interrupt; both handlers alike.
func TestPPCEarly(t *testing.T) {
	const ds, is, seg = powerpc.TrapDataStorage, powerpc.TrapInstStorage, powerpc.TrapDataSegment
	tests := []struct {
		name string
		regs kernel.Regs
		want kernel.TrapAction
		sig  abi.Signal // queued for the task
		code abi.Code
	}{
		{"bad DSISR, user: SIGBUS BUS_OBJERR", kernel.Regs{Addr: base, User: true, Insn: kernel.InsnUser, Trap: ds, HW: powerpc.DSISRBadAccess}, kernel.Restart, abi.SIGBUS, abi.BUS_OBJERR},
		{"bad DSISR, kernel copy: fixup", kernel.Regs{Addr: base, Insn: kernel.InsnCopyToUser, UAccess: true, Trap: ds, HW: powerpc.DSISRUnsuppMMU | powerpc.DSISRIsStore}, kernel.Fixup, 0, 0},
		{"bad DSISR, no fixup: die", kernel.Regs{Addr: base, Insn: kernel.InsnBuggyDeref, UAccess: true, Trap: ds, HW: powerpc.DSISRBadCopyPaste}, kernel.Oops, 0, 0},
		{"kernel fetch of a user page: die", kernel.Regs{Addr: base, Access: mm.AccessExec, Insn: kernel.InsnCopyFromUser, UAccess: true, Trap: is, HW: powerpc.DSISRProtFault}, kernel.Oops, 0, 0},
		{"kernel copy at TASK_SIZE: fixup", kernel.Regs{Addr: 1 << 46, Insn: kernel.InsnCopyFromUser, UAccess: true, Trap: ds, HW: powerpc.DSISRNoHPTE}, kernel.Fixup, 0, 0},
		{"KUAP blocked, an exception-table entry: WARN, fixup", kernel.Regs{Addr: base, Insn: kernel.InsnCopyFromUser, Trap: ds, HW: powerpc.DSISRProtFault}, kernel.Fixup, 0, 0},
		{"KUAP blocked, no entry: die", kernel.Regs{Addr: base, Insn: kernel.InsnBuggyDeref, Trap: ds, HW: powerpc.DSISRProtFault}, kernel.Oops, 0, 0},
		{"faults disabled, user mode: SEGV_MAPERR", kernel.Regs{Addr: base, User: true, Insn: kernel.InsnUser, NoFault: true, Trap: ds, HW: powerpc.DSISRNoHPTE}, kernel.Restart, abi.SIGSEGV, abi.SEGV_MAPERR},
		{"faults disabled, kernel copy: fixup", kernel.Regs{Addr: base, Insn: kernel.InsnCopyToUser, UAccess: true, NoFault: true, Trap: ds, HW: powerpc.DSISRNoHPTE}, kernel.Fixup, 0, 0},
		{"segment interrupt, user: SEGV_BNDERR", kernel.Regs{Addr: 1 << 52, User: true, Insn: kernel.InsnUser, Trap: seg}, kernel.Restart, abi.SIGSEGV, abi.SEGV_BNDERR},
		{"segment interrupt, kernel copy: fixup", kernel.Regs{Addr: 1 << 52, Insn: kernel.InsnCopyFromUser, UAccess: true, Trap: seg}, kernel.Fixup, 0, 0},
	}
	for _, tc := range tests {
		for _, v := range []config.Version{v618, v61} {
			for _, generic := range []bool{false, true} {
				name := tc.name + "/" + v.String() + "/native"
				if generic {
					name = tc.name + "/" + v.String() + "/generic"
				}
				t.Run(name, func(t *testing.T) {
					s := &script{}
					m := newPPC(t, v, true, generic, s)
					mapFixedPPC(t, m, mm.ProtRead|mm.ProtWrite)
					r := tc.regs
					if got := m.arch.Trap(m.task, &r); got != tc.want {
						t.Errorf("Trap = %v, want %v", got, tc.want)
					}
					info, queued := m.task.PendingFault()
					if queued != (tc.sig != 0) || queued && (info.Signo != tc.sig || info.Code != tc.code || info.Addr != tc.regs.Addr) {
						t.Errorf("queued %v %+v, want %v code %d", queued, info, tc.sig, tc.code)
					}
					if len(s.calls) != 0 {
						t.Errorf("handle_mm_fault ran %d times", len(s.calls))
					}
				})
			}
		}
	}
}

// TestPPCTrapAllocs: the native fault path allocates nothing once frames
// and page tables exist (a write fault on a fresh anonymous page, the
// per-VMA lock path at 6.18 and the mmap-lock path at 6.1).
func TestPPCTrapAllocs(t *testing.T) {
	const pages = 1024
	for _, v := range []config.Version{v618, v61} {
		t.Run(v.String(), func(t *testing.T) {
			m := newPPC(t, v, true, false, nil)
			a := m.arch.(*PPC) // a concrete receiver: through the interface the registers escape
			if out := m.task.Mmap(kernel.MmapArgs{Addr: base, Length: pages * pg, Prot: mm.ProtRead | mm.ProtWrite, Fixed: true}); out.Kind != kernel.OutOK {
				t.Fatalf("mmap: %v", out)
			}
			if out := m.task.Touch(base, pages*pg, mm.AccessWrite, 1); out.Kind != kernel.OutOK {
				t.Fatalf("warm-up: %v", out)
			}
			if out := m.task.Madvise(base, pages*pg, kernel.MadvDontneed); out.Kind != kernel.OutOK {
				t.Fatalf("dontneed: %v", out)
			}
			i := uint64(0)
			allocs := testing.AllocsPerRun(pages-1, func() {
				r := kernel.Regs{Addr: base + i*pg, Access: mm.AccessWrite, User: true, Trap: powerpc.TrapDataStorage, HW: powerpc.DSISRNoHPTE | powerpc.DSISRIsStore}
				i++
				if act := a.Trap(m.task, &r); act != kernel.Restart {
					t.Fatalf("trap: %v", act)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per fault, want none", allocs)
			}
		})
	}
}
