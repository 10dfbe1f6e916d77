package native

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch"
	"github.com/faultline/faultline/arch/riscv"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/vmfault"
)

const (
	pg   = 4096
	base = uint64(0x10000000)
)

var (
	v618 = config.Version{Major: 6, Minor: 18}
	v68  = config.Version{Major: 6, Minor: 8}
	v61  = config.Version{Major: 6, Minor: 1}
)

// script is handle_mm_fault for a test: it returns its results in turn
// (the last one for ever when repeat is set), releasing the fault lock
// for RETRY and COMPLETED as the real one does, then hands every further
// fault to memory.HandleMMFault. It records the flags of every call, and
// can send the faulting task a signal just before it returns.
type script struct {
	rets   []vmfault.Reason
	repeat bool
	signal abi.Signal // sent to the faulting task with the first scripted result
	calls  []vmfault.Flags
}

func (s *script) resolve(v *mm.VMA, addr uint64, flags vmfault.Flags, t memory.Faulter) vmfault.Reason {
	s.calls = append(s.calls, flags)
	if len(s.rets) == 0 {
		return memory.HandleMMFault(v, addr, flags, t)
	}
	ret := s.rets[0]
	if !s.repeat || len(s.rets) > 1 {
		s.rets = s.rets[1:]
	}
	if s.signal != 0 {
		t.(*kernel.Task).SendSignal(s.signal)
		s.signal = 0
	}
	if ret&(vmfault.Retry|vmfault.Completed) != 0 {
		mm.ReleaseFaultLock(v, flags&vmfault.FlagVMALock != 0)
	}
	return ret
}

func (s *script) clone() *script {
	if s == nil {
		return nil
	}
	c := *s
	c.rets = append([]vmfault.Reason(nil), s.rets...)
	c.calls = nil
	return &c
}

// genericOutcome runs the access on riscv64 converted to the generic
// handler, with the same script.
func genericOutcome(t *testing.T, version config.Version, memoryFailure bool, s *script, prot mm.Prot, access string, addr uint64) kernel.Outcome {
	t.Helper()
	cfg := config.Default()
	cfg.Version, cfg.MemoryFailure = version, memoryFailure
	a := riscv.New(cfg)
	if s != nil {
		a.Handler().Resolve = s.resolve
	}
	a.Handler().MaxRetries = 50
	k := kernel.New(cfg, a)
	t.Cleanup(k.Shutdown)
	m := &machine{k: k, task: k.Spawn("t")}
	m.mapAt(t, base, 2, prot, false)
	if out := m.task.Sigaction(abi.SIGUSR1, kernel.SigCatch); out.Kind != kernel.OutOK {
		t.Fatalf("sigaction: %v", out)
	}
	return accessOf(m, access, addr)
}

type machine struct {
	arch *RISCV
	k    *kernel.Kernel
	task *kernel.Task
}

func newMachine(t *testing.T, version config.Version, memoryFailure bool, s *script) *machine {
	t.Helper()
	cfg := config.Default()
	cfg.Version, cfg.MemoryFailure = version, memoryFailure
	a := NewRISCV(cfg)
	if s != nil {
		a.Resolve = s.resolve
	}
	a.MaxRetries = 50
	k := kernel.New(cfg, a)
	t.Cleanup(k.Shutdown)
	return &machine{arch: a, k: k, task: k.Spawn("t")}
}

func (m *machine) mapAt(t *testing.T, addr uint64, n int, prot mm.Prot, growsDown bool) {
	t.Helper()
	out := m.task.Mmap(kernel.MmapArgs{Addr: addr, Length: uint64(n) * pg, Prot: prot, Fixed: true, GrowsDown: growsDown})
	if out.Kind != kernel.OutOK || out.Value != addr {
		t.Fatalf("mmap %#x: %v", addr, out)
	}
}

// noLocks checks that no fault left a lock behind.
func (m *machine) noLocks(t *testing.T) {
	t.Helper()
	if r, w, v := m.task.MM().LockState(); r != 0 || w || v != 0 {
		t.Errorf("locks held after the fault: %d readers, writer %v, %d VMA readers", r, w, v)
	}
}

// outcome is an access's outcome as the tests compare it.
type outcome struct {
	kind  kernel.OutcomeKind
	value uint64 // for ok with a value
	sig   abi.Signal
	code  abi.Code
	addr  uint64
}

func ok(v uint64) outcome { return outcome{kind: kernel.OutOK, value: v} }
func sig(s abi.Signal, code abi.Code, addr uint64) outcome {
	return outcome{kind: kernel.OutSignal, sig: s, code: code, addr: addr}
}
func errno(e abi.Errno) outcome { return outcome{kind: kernel.OutErrno, value: uint64(e)} }

var (
	oops     = outcome{kind: kernel.OutOops}
	livelock = outcome{kind: kernel.OutLivelock}
	killed   = outcome{kind: kernel.OutKilled, sig: abi.SIGKILL}
)

func check(t *testing.T, got kernel.Outcome, want outcome) {
	t.Helper()
	match := got.Kind == want.kind
	switch want.kind {
	case kernel.OutOK:
		match = match && (!got.HasValue || got.Value == want.value)
	case kernel.OutSignal:
		match = match && got.Info.Signo == want.sig && got.Info.Code == want.code && got.Info.Addr == want.addr && got.Info.LSB == 0
	case kernel.OutErrno:
		match = match && uint64(got.Errno) == want.value
	case kernel.OutKilled:
		match = match && got.Signal == want.sig
	}
	if !match {
		t.Fatalf("outcome %v, want %+v", got, want)
	}
}

func rules(bits uint64) []string {
	var out []string
	for _, r := range arch.Noted(bits) {
		out = append(out, r.Name)
	}
	return out
}

// accessOf runs one access: a user read, write or fetch, a kernel copy
// to user memory (kread), from it (kwrite), or a kernel dereference
// without a fixup (kderef).
func accessOf(m *machine, kind string, addr uint64) kernel.Outcome {
	switch kind {
	case "read":
		return m.task.Read(addr)
	case "write":
		return m.task.Write(addr, 0x5a)
	case "exec":
		return m.task.Exec(addr)
	case "kread":
		return m.task.KRead(addr, 8, 7)
	case "kwrite":
		return m.task.KWrite(addr, 8)
	case "kderef":
		return m.task.KDeref(addr, false)
	}
	panic("unknown access " + kind)
}

// TestPaths drives every path of handle_page_fault and mm_fault_error
// through the machine: the real handle_mm_fault where it can reach the
// path, a scripted result where only a rare state of memory would.
func TestPaths(t *testing.T) {
	const (
		rw = mm.ProtRead | mm.ProtWrite
		ro = mm.ProtRead
		xo = mm.ProtExec
	)
	r := vmfault.Retry
	tests := []struct {
		name    string
		version config.Version
		mf      bool // CONFIG_MEMORY_FAILURE
		prot    mm.Prot
		s       *script
		access  string
		addr    uint64 // offset from base
		want    outcome
		rules   []string
		calls   int // handle_mm_fault calls, when not 0
		// bug: the generic handler treats the result as a bug of the
		// model (it panics where the kernel has BUG()): not compared.
		bug bool
	}{
		// No VMA, access errors, resolved faults.
		{name: "user read resolved", version: v618, prot: rw, access: "read", want: ok(0)},
		{name: "user write resolved 6.1", version: v61, prot: rw, access: "write", want: ok(0)},
		{name: "no VMA", version: v618, prot: rw, access: "read", addr: 8 * pg, want: sig(abi.SIGSEGV, abi.SEGV_MAPERR, base+8*pg)},
		{name: "no VMA 6.1", version: v61, prot: rw, access: "write", addr: 8 * pg, want: sig(abi.SIGSEGV, abi.SEGV_MAPERR, base+8*pg)},
		{name: "write to read-only (phase A)", version: v618, prot: ro, access: "write", addr: 5, want: sig(abi.SIGSEGV, abi.SEGV_ACCERR, base+5)},
		{name: "write to read-only, before 6.10 (falls back to the mmap lock)", version: v68, prot: ro, access: "write", want: sig(abi.SIGSEGV, abi.SEGV_ACCERR, base)},
		{name: "write to read-only 6.1", version: v61, prot: ro, access: "write", want: sig(abi.SIGSEGV, abi.SEGV_ACCERR, base)},
		{name: "read of exec-only", version: v618, prot: xo, access: "read", want: sig(abi.SIGSEGV, abi.SEGV_ACCERR, base)},
		{name: "fetch of read-write", version: v618, prot: rw, access: "exec", want: sig(abi.SIGSEGV, abi.SEGV_ACCERR, base)},
		{name: "kernel copy, no VMA: fixup", version: v618, prot: rw, access: "kread", addr: 8 * pg, want: errno(abi.EFAULT)},
		{name: "kernel copy to read-only: fixup", version: v61, prot: ro, access: "kread", want: errno(abi.EFAULT)},
		{name: "kernel dereference, no VMA: oops", version: v618, prot: rw, access: "kderef", addr: 8 * pg, want: oops},
		{name: "kernel copy resolved", version: v618, prot: rw, access: "kwrite", want: ok(8)},

		// mm_fault_error, user mode.
		{name: "OOM: pagefault_out_of_memory, the access retries", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.OOM}}, access: "read", want: ok(0), calls: 2},
		{name: "SIGBUS", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.SigBus}}, access: "read", addr: 3, want: sig(abi.SIGBUS, abi.BUS_ADRERR, base+3)},
		{name: "SIGSEGV", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.SigSegv}}, access: "write", want: sig(abi.SIGSEGV, abi.SEGV_MAPERR, base)},
		{name: "poison with MEMORY_FAILURE: ADRERR, no lsb", version: v618, mf: true, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.HWPoison}}, access: "read", want: sig(abi.SIGBUS, abi.BUS_ADRERR, base), rules: []string{"poison-as-adrerr"}},
		{name: "huge poison with MEMORY_FAILURE", version: v618, mf: true, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.HWPoisonLarge}}, access: "read", want: sig(abi.SIGBUS, abi.BUS_ADRERR, base), rules: []string{"poison-as-adrerr"}},
		{name: "poison without MEMORY_FAILURE: as the generic handler", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.HWPoison}}, access: "read", want: sig(abi.SIGBUS, abi.BUS_ADRERR, base)},
		{name: "poison and SIGSEGV: the SIGBUS branch", version: v618, mf: true, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.HWPoison | vmfault.SigSegv}}, access: "read", want: sig(abi.SIGBUS, abi.BUS_ADRERR, base), rules: []string{"poison-as-adrerr"}},
		{name: "FALLBACK leaking out: BUG", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.Fallback}}, access: "read", want: oops, bug: true},
		{name: "6.1 poison: BUG", version: v61, mf: true, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.HWPoison}}, access: "read", want: oops, rules: []string{"poison-unhandled"}},
		{name: "6.1 huge poison: BUG", version: v61, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.HWPoisonLarge}}, access: "write", want: oops, rules: []string{"poison-unhandled"}},
		{name: "6.1 poison and SIGBUS: SIGBUS", version: v61, mf: true, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.HWPoison | vmfault.SigBus}}, access: "read", want: sig(abi.SIGBUS, abi.BUS_ADRERR, base), rules: []string{"poison-as-adrerr"}},
		{name: "6.1 poison and SIGSEGV: SIGSEGV", version: v61, mf: true, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.HWPoison | vmfault.SigSegv}}, access: "read", want: sig(abi.SIGSEGV, abi.SEGV_MAPERR, base), rules: []string{"poison-unhandled"}},
		{name: "6.1 SIGSEGV", version: v61, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.SigSegv}}, access: "read", want: sig(abi.SIGSEGV, abi.SEGV_MAPERR, base)},

		// mm_fault_error, kernel mode: no_context whatever the bits.
		{name: "kernel copy OOM: fixup", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.OOM}}, access: "kread", want: errno(abi.EFAULT)},
		{name: "kernel copy poison: fixup", version: v618, mf: true, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.HWPoison}}, access: "kwrite", want: errno(abi.EFAULT)},
		{name: "6.1 kernel copy poison: fixup, no BUG", version: v61, mf: true, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.HWPoison}}, access: "kread", want: errno(abi.EFAULT)},
		{name: "kernel dereference SIGBUS: oops", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.SigBus}}, access: "kderef", want: oops},

		// RETRY and COMPLETED.
		{name: "RETRY, then resolved", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{r, r | vmfault.Major}}, access: "read", want: ok(0), calls: 3},
		{name: "RETRY for ever: livelock", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{r}, repeat: true}, access: "read", want: livelock},
		{name: "kernel copy RETRY for ever: livelock", version: v61, prot: rw, s: &script{rets: []vmfault.Reason{r}, repeat: true}, access: "kread", want: livelock},
		{name: "COMPLETED under the VMA lock", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.Completed}}, access: "read", want: ok(0), calls: 2},
		{name: "COMPLETED under the mmap lock", version: v61, prot: rw, s: &script{rets: []vmfault.Reason{vmfault.Completed}}, access: "write", want: ok(0), calls: 2},

		// fault_signal_pending.
		{name: "user RETRY, fatal signal", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{r}, signal: abi.SIGKILL}, access: "read", want: killed, calls: 1},
		{name: "user RETRY, fatal signal, under the mmap lock", version: v61, prot: rw, s: &script{rets: []vmfault.Reason{r}, signal: abi.SIGKILL}, access: "read", want: killed, calls: 1},
		{name: "kernel copy RETRY, fatal signal: no_context", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{r}, repeat: true, signal: abi.SIGKILL}, access: "kread", want: killed, calls: 1},
		{name: "6.1 kernel copy RETRY, fatal signal: returns, livelock", version: v61, prot: rw, s: &script{rets: []vmfault.Reason{r}, repeat: true, signal: abi.SIGKILL}, access: "kread", want: livelock, rules: []string{"kernel-retry-fatal-signal"}},
		{name: "6.1 kernel copy RETRY, fatal signal, page comes: resolved", version: v61, prot: rw, s: &script{rets: []vmfault.Reason{r}, signal: abi.SIGKILL}, access: "kwrite", want: killed, rules: []string{"kernel-retry-fatal-signal"}, calls: 2},
		{name: "kernel copy RETRY, caught signal: retried", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{r}, signal: abi.SIGUSR1}, access: "kread", want: ok(8), calls: 2},
		{name: "user RETRY, caught signal: handler, then the access again", version: v618, prot: rw, s: &script{rets: []vmfault.Reason{r}, signal: abi.SIGUSR1}, access: "read", want: ok(0), calls: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, tc.version, tc.mf, tc.s)
			m.mapAt(t, base, 2, tc.prot, false)
			if out := m.task.Sigaction(abi.SIGUSR1, kernel.SigCatch); out.Kind != kernel.OutOK {
				t.Fatalf("sigaction: %v", out)
			}
			gs := tc.s.clone()
			got := accessOf(m, tc.access, base+tc.addr)
			check(t, got, tc.want)
			m.noLocks(t)
			if noted := rules(m.k.RulesNoted()); len(noted) != len(tc.rules) || len(noted) == 1 && noted[0] != tc.rules[0] {
				t.Errorf("rules noted %v, want %v", noted, tc.rules)
			}
			if tc.calls != 0 && len(tc.s.calls) != tc.calls {
				t.Errorf("%d calls of handle_mm_fault, want %d", len(tc.s.calls), tc.calls)
			}
			// Where no rule is noted, converting riscv64 changes nothing.
			if len(tc.rules) == 0 && !tc.bug {
				if g := genericOutcome(t, tc.version, tc.mf, gs, tc.prot, tc.access, base+tc.addr); g != got {
					t.Errorf("the generic handler gives %v, the native one %v, and no rule says why", g, got)
				}
			}
		})
	}
}

// TestFlags checks the FAULT_FLAG_* each attempt of a fault carries:
// from scause, FAULT_FLAG_USER, the per-VMA lock from 6.5 for user faults
// only, and FAULT_FLAG_TRIED after a RETRY, which a phase-A RETRY sets
// only when it was major.
func TestFlags(t *testing.T) {
	const (
		d    = vmfault.FlagDefault
		u    = vmfault.FlagUser
		w    = vmfault.FlagWrite
		x    = vmfault.FlagInstruction
		vl   = vmfault.FlagVMALock
		tr   = vmfault.FlagTried
		rx   = mm.ProtRead | mm.ProtExec
		rw   = mm.ProtRead | mm.ProtWrite
		done = vmfault.Reason(0)
	)
	r := vmfault.Retry
	tests := []struct {
		name    string
		version config.Version
		prot    mm.Prot
		access  string
		rets    []vmfault.Reason
		want    []vmfault.Flags
	}{
		{"read", v618, rw, "read", []vmfault.Reason{done}, []vmfault.Flags{d | u | vl}},
		{"write", v618, rw, "write", []vmfault.Reason{done}, []vmfault.Flags{d | u | w | vl}},
		{"fetch", v618, rx, "exec", []vmfault.Reason{done}, []vmfault.Flags{d | u | x | vl}},
		{"6.1: no per-VMA lock", v61, rw, "write", []vmfault.Reason{done}, []vmfault.Flags{d | u | w}},
		{"kernel copy: the mmap lock", v618, rw, "kread", []vmfault.Reason{done}, []vmfault.Flags{d | w}},
		{"kernel copy from user", v618, rw, "kwrite", []vmfault.Reason{done}, []vmfault.Flags{d}},
		{"phase A RETRY: not TRIED", v618, rw, "read", []vmfault.Reason{r, done}, []vmfault.Flags{d | u | vl, d | u}},
		{"phase A major RETRY: TRIED", v618, rw, "read", []vmfault.Reason{r | vmfault.Major, done}, []vmfault.Flags{d | u | vl, d | u | tr}},
		{"6.1 RETRY: TRIED", v61, rw, "read", []vmfault.Reason{r, done}, []vmfault.Flags{d | u, d | u | tr}},
		{"RETRY under the mmap lock: TRIED", v618, rw, "read", []vmfault.Reason{r, r, done}, []vmfault.Flags{d | u | vl, d | u, d | u | tr}},
		{"kernel copy RETRY: TRIED", v618, rw, "kread", []vmfault.Reason{r, done}, []vmfault.Flags{d | w, d | w | tr}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{rets: tc.rets}
			m := newMachine(t, tc.version, true, s)
			m.mapAt(t, base, 1, tc.prot, false)
			out := accessOf(m, tc.access, base)
			if out.Kind != kernel.OutOK {
				t.Fatalf("access: %v", out)
			}
			// The scripted "done" leaves the page unmapped: the access
			// faults once more, resolved for real. Compare the scripted part.
			if len(s.calls) < len(tc.want) {
				t.Fatalf("calls %v, want %v first", s.calls, tc.want)
			}
			for i, f := range tc.want {
				if s.calls[i] != f {
					t.Errorf("call %d: flags %v, want %v", i, s.calls[i], f)
				}
			}
			m.noLocks(t)
		})
	}
}

// TestEarlyExits: the paths of handle_page_fault before any lock, called
// as the trap entry would.
func TestEarlyExits(t *testing.T) {
	tests := []struct {
		name  string
		regs  kernel.Regs
		want  kernel.TrapAction
		rules []string
	}{
		{"faults disabled, user mode: no_context kills", kernel.Regs{Addr: base, User: true, Insn: kernel.InsnUser, NoFault: true}, kernel.Oops, []string{"user-fault-no-context"}},
		{"faults disabled, kernel copy: fixup", kernel.Regs{Addr: base, Insn: kernel.InsnCopyToUser, UAccess: true, NoFault: true}, kernel.Fixup, nil},
		{"faults disabled, no fixup: oops", kernel.Regs{Addr: base, Insn: kernel.InsnBuggyDeref, UAccess: true, NoFault: true}, kernel.Oops, nil},
		{"user memory without SUM, fixup", kernel.Regs{Addr: base, Insn: kernel.InsnCopyFromUser}, kernel.Fixup, nil},
		{"user memory without SUM, no fixup", kernel.Regs{Addr: base, Insn: kernel.InsnBuggyDeref}, kernel.Oops, nil},
	}
	for _, tc := range tests {
		for _, v := range []config.Version{v618, v61} {
			t.Run(tc.name+"/"+v.String(), func(t *testing.T) {
				s := &script{}
				m := newMachine(t, v, true, s)
				m.mapAt(t, base, 1, mm.ProtRead|mm.ProtWrite, false)
				r := tc.regs
				r.HW = riscv.SCause(r.Access)
				if got := m.arch.Trap(m.task, &r); got != tc.want {
					t.Errorf("Trap = %v, want %v", got, tc.want)
				}
				if len(s.calls) != 0 {
					t.Errorf("handle_mm_fault ran %d times", len(s.calls))
				}
				if got := rules(m.k.RulesNoted()); len(got) != len(tc.rules) || len(got) == 1 && got[0] != tc.rules[0] {
					t.Errorf("rules noted %v, want %v", got, tc.rules)
				}
				m.noLocks(t)
			})
		}
	}
}

// TestStackExpansion: lock_mm_and_find_vma grows a growsdown stack for a
// user fault and a kernel copy alike, at 6.1 (the StackRot backport) as at
// 6.18; below the guard gap it refuses.
func TestStackExpansion(t *testing.T) {
	const stack = base + 64*pg
	for _, v := range []config.Version{v618, v61} {
		for _, acc := range []string{"write", "kread"} {
			t.Run(v.String()+"/"+acc, func(t *testing.T) {
				m := newMachine(t, v, true, nil)
				m.mapAt(t, stack, 4, mm.ProtRead|mm.ProtWrite, true)
				want := ok(0)
				if acc == "kread" {
					want = ok(8)
				}
				check(t, accessOf(m, acc, stack-pg), want)
				m.noLocks(t)
			})
		}
	}
}

// TestTrapAllocs: the native fault path allocates nothing once frames and
// page tables exist (a write fault on a fresh anonymous page, the per-VMA
// lock path at 6.18 and the mmap-lock path at 6.1).
func TestTrapAllocs(t *testing.T) {
	const pages = 1024
	for _, v := range []config.Version{v618, v61} {
		t.Run(v.String(), func(t *testing.T) {
			m := newMachine(t, v, true, nil)
			m.mapAt(t, base, pages, mm.ProtRead|mm.ProtWrite, false)
			if out := m.task.Touch(base, pages*pg, mm.AccessWrite, 1); out.Kind != kernel.OutOK {
				t.Fatalf("warm-up: %v", out)
			}
			if out := m.task.Madvise(base, pages*pg, kernel.MadvDontneed); out.Kind != kernel.OutOK {
				t.Fatalf("dontneed: %v", out)
			}
			i := uint64(0)
			allocs := testing.AllocsPerRun(pages-1, func() {
				r := kernel.Regs{Addr: base + i*pg, Access: mm.AccessWrite, User: true, HW: riscv.ExcStorePageFault}
				i++
				if act := m.arch.Trap(m.task, &r); act != kernel.Restart {
					t.Fatalf("trap: %v", act)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per fault, want none", allocs)
			}
			m.noLocks(t)
		})
	}
}

// BenchmarkRISCVAnonWriteFault faults a fresh anonymous page in by a write
// through riscv64's native handler and handle_mm_fault.
func BenchmarkRISCVAnonWriteFault(b *testing.B) {
	const pages = 16384
	cfg := config.Default()
	a := NewRISCV(cfg)
	k := kernel.New(cfg, a)
	defer k.Shutdown()
	task := k.Spawn("bench")
	out := task.Mmap(kernel.MmapArgs{Length: pages * pg, Prot: mm.ProtRead | mm.ProtWrite})
	if out.Kind != kernel.OutOK {
		b.Fatalf("mmap: %v", out)
	}
	start := out.Value
	task.Touch(start, pages*pg, mm.AccessWrite, 1)
	task.Madvise(start, pages*pg, kernel.MadvDontneed)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := uint64(i % pages)
		if n == 0 && i > 0 {
			b.StopTimer()
			task.Madvise(start, pages*pg, kernel.MadvDontneed)
			b.StartTimer()
		}
		r := kernel.Regs{Addr: start + n*pg, Access: mm.AccessWrite, User: true, HW: riscv.ExcStorePageFault}
		if act := a.Trap(task, &r); act != kernel.Restart {
			b.Fatalf("trap: %v", act)
		}
	}
}
