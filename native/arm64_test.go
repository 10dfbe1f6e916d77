package native_test

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/native"
	"github.com/faultline/faultline/vmfault"
)

// tag is a pointer tag in the top byte (pg and base are x86_test.go's).
const tag = uint64(0x3c) << 56

// armScript is a handle_mm_fault double: it returns its results in order,
// releasing the fault's lock where the result says so, and resolves for
// real once they are used up.
type armScript struct {
	results []vmfault.Reason
	flags   []vmfault.Flags // what each call was given
}

func (s *armScript) resolve(v *mm.VMA, addr uint64, f vmfault.Flags, t memory.Faulter) vmfault.Reason {
	s.flags = append(s.flags, f)
	if len(s.flags) > len(s.results) {
		return memory.HandleMMFault(v, addr, f, t)
	}
	r := s.results[len(s.flags)-1]
	if r&(vmfault.Retry|vmfault.Completed) != 0 {
		mm.ReleaseFaultLock(v, f&vmfault.FlagVMALock != 0)
	}
	return r
}

type setup struct {
	kernel        string // "6.1", "6.6"; "" = 6.18
	memoryFailure bool
	epan          bool
	prot          mm.Prot
}

func newNative(t *testing.T, s setup, sc *armScript) (*native.ARM64, *kernel.Kernel, *kernel.Task) {
	t.Helper()
	cfg := config.Default()
	cfg.MemoryFailure = s.memoryFailure
	cfg.EPAN = s.epan
	if s.kernel != "" {
		if err := cfg.Set("kernel", s.kernel); err != nil {
			t.Fatal(err)
		}
	}
	a := native.NewARM64(cfg)
	if sc != nil {
		a.Resolve = sc.resolve
	}
	k := kernel.New(cfg, a)
	t.Cleanup(k.Shutdown)
	task := k.Spawn("t")
	prot := s.prot
	if prot == 0 {
		prot = mm.ProtRead | mm.ProtWrite
	}
	if out := task.Mmap(kernel.MmapArgs{Addr: base, Length: 2 * pg, Prot: prot, Fixed: true}); out.Kind != kernel.OutOK {
		t.Fatalf("mmap: %v", out)
	}
	return a, k, task
}

func rulesOf(ids ...arch.RuleID) uint64 {
	var b uint64
	for _, id := range ids {
		b |= id.Bit()
	}
	return b
}

func sigOut(sig abi.Signal, code abi.Code, addr uint64, lsb uint8) kernel.Outcome {
	return kernel.Outcome{Kind: kernel.OutSignal, Info: kernel.SigInfo{Signo: sig, Code: code, Addr: addr, LSB: lsb}}
}

func same(got, want kernel.Outcome) bool {
	return got.Kind == want.Kind && got.Info == want.Info && got.Errno == want.Errno &&
		(want.Kind != kernel.OutOK || !want.HasValue || got.Value == want.Value)
}

// TestARM64User runs user-mode faults through the native machine, one per
// path of do_page_fault and do_bad_area, with scripted or real
// handle_mm_fault results, and checks the outcome, the rules noted, and
// how often handle_mm_fault ran with which flags.
func TestARM64User(t *testing.T) {
	const addr = base + 0x48
	hw := vmfault.HWPoison
	large := vmfault.HWPoisonLarge | vmfault.SetHIndex(0) // 2 MiB
	tests := []struct {
		name    string
		setup   setup
		acc     mm.Access
		addr    uint64
		results []vmfault.Reason
		want    kernel.Outcome
		rules   uint64
		calls   int  // handle_mm_fault calls, the real ones included
		vmaLock bool // the first call ran under the per-VMA lock
		tried   bool // the last call had FAULT_FLAG_TRIED
	}{
		{name: "resolved", acc: mm.AccessWrite, addr: addr, want: kernel.OK(), calls: 1, vmaLock: true},
		{name: "tagged pointer resolved", acc: mm.AccessRead, addr: addr | tag, want: kernel.OKValue(0), calls: 1, vmaLock: true},
		{name: "6.1: no per-VMA lock", setup: setup{kernel: "6.1"}, acc: mm.AccessRead, addr: addr, want: kernel.OKValue(0), calls: 1},
		{name: "no VMA", acc: mm.AccessRead, addr: base + 5*pg, want: sigOut(abi.SIGSEGV, abi.SEGV_MAPERR, base+5*pg, 0)},
		{name: "6.1: no VMA (VM_FAULT_BADMAP)", setup: setup{kernel: "6.1"}, acc: mm.AccessRead, addr: base + 5*pg, want: sigOut(abi.SIGSEGV, abi.SEGV_MAPERR, base+5*pg, 0)},
		{name: "TTBR1 address: do_bad_area", acc: mm.AccessRead, addr: 0xffff000000001000, want: sigOut(abi.SIGSEGV, abi.SEGV_MAPERR, 0xffff000000001000, 0)},
		{name: "above 48 bits: do_bad_area", acc: mm.AccessWrite, addr: 1 << 48, want: sigOut(abi.SIGSEGV, abi.SEGV_MAPERR, 1<<48, 0)},
		{name: "access error under the VMA lock", setup: setup{prot: mm.ProtRead}, acc: mm.AccessWrite, addr: addr | tag, want: sigOut(abi.SIGSEGV, abi.SEGV_ACCERR, addr, 0)},
		{name: "6.6: access error retried under the mmap lock", setup: setup{kernel: "6.6", prot: mm.ProtRead}, acc: mm.AccessWrite, addr: addr, want: sigOut(abi.SIGSEGV, abi.SEGV_ACCERR, addr, 0)},
		{name: "6.1: access error (VM_FAULT_BADACCESS)", setup: setup{kernel: "6.1", prot: mm.ProtRead}, acc: mm.AccessWrite, addr: addr, want: sigOut(abi.SIGSEGV, abi.SEGV_ACCERR, addr, 0)},
		{name: "exec-only read without EPAN", setup: setup{prot: mm.ProtExec}, acc: mm.AccessRead, addr: addr, want: kernel.OKValue(0), calls: 1, vmaLock: true},
		{name: "exec-only read with EPAN", setup: setup{prot: mm.ProtExec, epan: true}, acc: mm.AccessRead, addr: addr, want: sigOut(abi.SIGSEGV, abi.SEGV_ACCERR, addr, 0)},
		{name: "fetch from rw", acc: mm.AccessExec, addr: addr, want: sigOut(abi.SIGSEGV, abi.SEGV_ACCERR, addr, 0)},
		{name: "VM_FAULT_SIGSEGV", acc: mm.AccessRead, addr: addr, results: []vmfault.Reason{vmfault.SigSegv}, want: sigOut(abi.SIGSEGV, abi.SEGV_MAPERR, addr, 0), calls: 1, vmaLock: true},
		{name: "6.1: VM_FAULT_SIGSEGV", setup: setup{kernel: "6.1"}, acc: mm.AccessRead, addr: addr, results: []vmfault.Reason{vmfault.SigSegv}, want: sigOut(abi.SIGSEGV, abi.SEGV_MAPERR, addr, 0), calls: 1},
		{name: "VM_FAULT_SIGBUS", acc: mm.AccessRead, addr: addr | tag, results: []vmfault.Reason{vmfault.SigBus}, want: sigOut(abi.SIGBUS, abi.BUS_ADRERR, addr, 0), calls: 1, vmaLock: true},
		{name: "SIGBUS and HWPOISON: ADRERR", setup: setup{memoryFailure: true}, acc: mm.AccessRead, addr: addr, results: []vmfault.Reason{vmfault.SigBus | hw}, want: sigOut(abi.SIGBUS, abi.BUS_ADRERR, addr, 0), rules: rulesOf(arch.RuleSigbusPoisonADRERR), calls: 1, vmaLock: true},
		{name: "SIGBUS and HWPOISON without CONFIG_MEMORY_FAILURE: ADRERR, as generic", acc: mm.AccessRead, addr: addr, results: []vmfault.Reason{vmfault.SigBus | hw}, want: sigOut(abi.SIGBUS, abi.BUS_ADRERR, addr, 0), calls: 1, vmaLock: true},
		{name: "both poison bits without CONFIG_MEMORY_FAILURE", acc: mm.AccessRead, addr: addr, results: []vmfault.Reason{hw | large}, want: sigOut(abi.SIGBUS, abi.BUS_MCEERR_AR, addr, 21), rules: rulesOf(arch.RulePoisonLargeWins, arch.RulePoisonWithoutMemoryFailure), calls: 1, vmaLock: true},
		{name: "HWPOISON", setup: setup{memoryFailure: true}, acc: mm.AccessWrite, addr: addr, results: []vmfault.Reason{hw}, want: sigOut(abi.SIGBUS, abi.BUS_MCEERR_AR, addr, 12), calls: 1, vmaLock: true},
		{name: "HWPOISON_LARGE", setup: setup{memoryFailure: true}, acc: mm.AccessRead, addr: addr, results: []vmfault.Reason{large}, want: sigOut(abi.SIGBUS, abi.BUS_MCEERR_AR, addr, 21), calls: 1, vmaLock: true},
		{name: "HWPOISON_LARGE 1 GiB", setup: setup{memoryFailure: true}, acc: mm.AccessRead, addr: addr, results: []vmfault.Reason{vmfault.HWPoisonLarge | vmfault.SetHIndex(1)}, want: sigOut(abi.SIGBUS, abi.BUS_MCEERR_AR, addr, 30), calls: 1, vmaLock: true},
		{name: "both poison bits: large wins", setup: setup{memoryFailure: true}, acc: mm.AccessRead, addr: addr, results: []vmfault.Reason{hw | large}, want: sigOut(abi.SIGBUS, abi.BUS_MCEERR_AR, addr, 21), rules: rulesOf(arch.RulePoisonLargeWins), calls: 1, vmaLock: true},
		{name: "HWPOISON without CONFIG_MEMORY_FAILURE", acc: mm.AccessRead, addr: addr, results: []vmfault.Reason{hw}, want: sigOut(abi.SIGBUS, abi.BUS_MCEERR_AR, addr, 12), rules: rulesOf(arch.RulePoisonWithoutMemoryFailure), calls: 1, vmaLock: true},
		{name: "6.1: HWPOISON_LARGE, index 1 overlapping VM_FAULT_BADMAP", setup: setup{kernel: "6.1", memoryFailure: true}, acc: mm.AccessRead, addr: addr, results: []vmfault.Reason{vmfault.HWPoisonLarge | vmfault.SetHIndex(1)}, want: sigOut(abi.SIGBUS, abi.BUS_MCEERR_AR, addr, 30), calls: 1},
		{name: "OOM: retried", acc: mm.AccessWrite, addr: addr, results: []vmfault.Reason{vmfault.OOM}, want: kernel.OK(), calls: 2, vmaLock: true},
		{name: "RETRY under the VMA lock, then the mmap lock", acc: mm.AccessRead, addr: addr, results: []vmfault.Reason{vmfault.Retry}, want: kernel.OKValue(0), calls: 2, vmaLock: true},
		{name: "major RETRY under the VMA lock: TRIED", acc: mm.AccessRead, addr: addr, results: []vmfault.Reason{vmfault.Retry | vmfault.Major}, want: kernel.OKValue(0), calls: 2, vmaLock: true, tried: true},
		{name: "RETRY under the mmap lock: TRIED", acc: mm.AccessRead, addr: addr, results: []vmfault.Reason{vmfault.Retry, vmfault.Retry}, want: kernel.OKValue(0), calls: 3, vmaLock: true, tried: true},
		{name: "RETRY then SIGBUS", acc: mm.AccessRead, addr: addr, results: []vmfault.Reason{vmfault.Retry, vmfault.Retry, vmfault.SigBus}, want: sigOut(abi.SIGBUS, abi.BUS_ADRERR, addr, 0), calls: 3, vmaLock: true, tried: true},
		{name: "COMPLETED under the mmap lock", acc: mm.AccessRead, addr: addr, results: []vmfault.Reason{vmfault.Retry, vmfault.Completed}, want: kernel.OKValue(0), calls: 3, vmaLock: true},
		{name: "6.1: RETRY then TRIED", setup: setup{kernel: "6.1"}, acc: mm.AccessRead, addr: addr, results: []vmfault.Reason{vmfault.Retry}, want: kernel.OKValue(0), calls: 2, tried: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := &armScript{results: tc.results}
			_, k, task := newNative(t, tc.setup, sc)
			var got kernel.Outcome
			switch tc.acc {
			case mm.AccessWrite:
				got = task.Write(tc.addr, 0x11)
			case mm.AccessExec:
				got = task.Exec(tc.addr)
			default:
				got = task.Read(tc.addr)
			}
			if !same(got, tc.want) {
				t.Errorf("outcome %v, want %v", got, tc.want)
			}
			if k.RulesNoted() != tc.rules {
				t.Errorf("rules noted %v, want %v", arch.Noted(k.RulesNoted()), arch.Noted(tc.rules))
			}
			if len(sc.flags) != tc.calls {
				t.Fatalf("handle_mm_fault ran %d times (%v), want %d", len(sc.flags), sc.flags, tc.calls)
			}
			if tc.calls == 0 {
				return
			}
			if got := sc.flags[0]&vmfault.FlagVMALock != 0; got != tc.vmaLock {
				t.Errorf("first call under the VMA lock: %v, want %v (%v)", got, tc.vmaLock, sc.flags)
			}
			last := sc.flags[len(sc.flags)-1]
			if got := last&vmfault.FlagTried != 0; got != tc.tried && len(tc.results) > 0 {
				t.Errorf("last call TRIED: %v, want %v (%v)", got, tc.tried, sc.flags)
			}
			if last&vmfault.FlagUser == 0 || (last&vmfault.FlagWrite != 0) != (tc.acc == mm.AccessWrite) {
				t.Errorf("flags %v for a user %v", last, tc.acc)
			}
		})
	}
}

// TestARM64Kernel runs kernel-mode faults: every failure is
// __do_kernel_fault (the fixup, else die), and a RETRY with a fatal
// signal pending is no_context. Copies go through read(2) and write(2)
// (EFAULT is the fixup), a dereference without an exception-table entry
// through kderef; PAN, PXN and disabled faults through the trap itself.
func TestARM64Kernel(t *testing.T) {
	const addr = base + 0x48
	efault := kernel.Err(abi.EFAULT)
	oops := kernel.Outcome{Kind: kernel.OutOops}
	killed := kernel.Outcome{Kind: kernel.OutKilled}
	tests := []struct {
		name    string
		setup   setup
		op      string // kread, kwrite, kderef
		addr    uint64
		kill    bool // the first scripted result comes with a SIGKILL
		results []vmfault.Reason
		want    kernel.Outcome
		calls   int
	}{
		{name: "resolved", op: "kread", addr: addr, want: kernel.OKValue(16), calls: 1},
		{name: "no VMA: fixup", op: "kread", addr: base + 5*pg, want: efault},
		{name: "no VMA: no fixup", op: "kderef", addr: base + 5*pg, want: oops},
		{name: "6.1: no VMA: fixup", setup: setup{kernel: "6.1"}, op: "kwrite", addr: base + 5*pg, want: efault},
		{name: "TTBR1 address: no fixup", op: "kderef", addr: 0xffff800000000000, want: oops},
		{name: "access error: fixup", setup: setup{prot: mm.ProtRead}, op: "kread", addr: addr, want: efault},
		{name: "6.1: access error: fixup", setup: setup{kernel: "6.1", prot: mm.ProtRead}, op: "kread", addr: addr, want: efault},
		{name: "exec-only with EPAN: fixup", setup: setup{prot: mm.ProtExec, epan: true}, op: "kwrite", addr: addr, want: efault},
		{name: "exec-only without EPAN: copied", setup: setup{prot: mm.ProtExec}, op: "kwrite", addr: addr, want: kernel.OKValue(16), calls: 1},
		{name: "SIGBUS: fixup", op: "kread", addr: addr, results: []vmfault.Reason{vmfault.SigBus}, want: efault, calls: 1},
		{name: "HWPOISON: no fixup", op: "kderef", addr: addr, results: []vmfault.Reason{vmfault.HWPoison}, want: oops, calls: 1},
		{name: "OOM: fixup", op: "kread", addr: addr, results: []vmfault.Reason{vmfault.OOM}, want: efault, calls: 1},
		{name: "VM_FAULT_SIGSEGV: fixup", op: "kwrite", addr: addr, results: []vmfault.Reason{vmfault.SigSegv}, want: efault, calls: 1},
		{name: "RETRY: retried with TRIED", op: "kread", addr: addr, results: []vmfault.Reason{vmfault.Retry}, want: kernel.OKValue(16), calls: 2},
		{name: "RETRY with a fatal signal: no_context", op: "kread", addr: addr, kill: true, results: []vmfault.Reason{vmfault.Retry}, want: killed, calls: 1},
		{name: "6.1: RETRY with a fatal signal: no_context", setup: setup{kernel: "6.1"}, op: "kread", addr: addr, kill: true, results: []vmfault.Reason{vmfault.Retry}, want: killed, calls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := &armScript{results: tc.results}
			a, k, task := newNative(t, tc.setup, sc)
			if tc.kill {
				a.Resolve = func(v *mm.VMA, addr uint64, f vmfault.Flags, ft memory.Faulter) vmfault.Reason {
					if len(sc.flags) == 0 {
						task.SendSignal(abi.SIGKILL)
					}
					return sc.resolve(v, addr, f, ft)
				}
			}
			var got kernel.Outcome
			switch tc.op {
			case "kread":
				got = task.KRead(tc.addr, 16, 7)
			case "kwrite":
				got = task.KWrite(tc.addr, 16)
			case "kderef":
				got = task.KDeref(tc.addr, false)
			}
			if got.Kind != tc.want.Kind || got.Errno != tc.want.Errno || tc.want.HasValue && got.Value != tc.want.Value {
				t.Errorf("outcome %v, want %v", got, tc.want)
			}
			if k.RulesNoted() != 0 {
				t.Errorf("rules noted %v, want none", arch.Noted(k.RulesNoted()))
			}
			if len(sc.flags) != tc.calls {
				t.Errorf("handle_mm_fault ran %d times (%v), want %d", len(sc.flags), sc.flags, tc.calls)
			}
			for i, f := range sc.flags {
				if f&vmfault.FlagUser != 0 || f&vmfault.FlagVMALock != 0 || (i > 0) != (f&vmfault.FlagTried != 0) {
					t.Errorf("call %d flags %v: a kernel fault runs under the mmap lock, TRIED after a retry", i, f)
				}
			}
		})
	}
}

// TestARM64Trap drives the trap directly for what no system call does:
// PAN and PXN on a present user page, and a fault with page faults
// disabled, in kernel and in user mode (no_context in both).
func TestARM64Trap(t *testing.T) {
	const addr = base + 0x48
	tests := []struct {
		name    string
		present bool
		r       kernel.Regs
		want    kernel.TrapAction
		rules   uint64
	}{
		{"PAN: outside uaccess, no fixup", true, kernel.Regs{Addr: addr, Access: mm.AccessRead, Insn: kernel.InsnBuggyDeref}, kernel.Oops, 0},
		{"PAN: outside uaccess, with a fixup: goes on", true, kernel.Regs{Addr: addr, Access: mm.AccessWrite, Insn: kernel.InsnCopyToUser}, kernel.Restart, 0},
		{"PXN: fetch from user memory", true, kernel.Regs{Addr: addr, Access: mm.AccessExec, Insn: kernel.InsnCopyFromUser, UAccess: true}, kernel.Oops, 0},
		{"kernel fetch, no VMA: never fixed up", false, kernel.Regs{Addr: base + 10*pg, Access: mm.AccessExec, Insn: kernel.InsnCopyFromUser, UAccess: true}, kernel.Oops, 0},
		{"kernel fetch of a kernel address: never fixed up", false, kernel.Regs{Addr: 0xffff800000000000, Access: mm.AccessExec, Insn: kernel.InsnCopyFromUser, UAccess: true}, kernel.Oops, 0},
		{"faults disabled, kernel: no_context, fixup", false, kernel.Regs{Addr: addr, Access: mm.AccessRead, Insn: kernel.InsnCopyFromUser, UAccess: true, NoFault: true}, kernel.Fixup, 0},
		{"faults disabled, user: no_context, dies", false, kernel.Regs{Addr: addr | tag, Access: mm.AccessRead, User: true, NoFault: true}, kernel.Oops, rulesOf(arch.RuleUserNoContext)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, k, task := newNative(t, setup{}, nil)
			if tc.present {
				if out := task.Write(base, 1); out.Kind != kernel.OutOK {
					t.Fatal(out)
				}
			}
			r := tc.r
			if a.Translate(task, &r) != nil {
				t.Fatal("translated")
			}
			if got := a.Trap(task, &r); got != tc.want {
				t.Errorf("Trap = %v, want %v", got, tc.want)
			}
			if k.RulesNoted() != tc.rules {
				t.Errorf("rules noted %v, want %v", arch.Noted(k.RulesNoted()), arch.Noted(tc.rules))
			}
		})
	}
}

// TestARM64Livelock: a fault that retries forever ends at the model's
// bound, on every version.
func TestARM64Livelock(t *testing.T) {
	for _, ver := range []string{"6.1", "6.18"} {
		sc := &armScript{results: make([]vmfault.Reason, 64)}
		for i := range sc.results {
			sc.results[i] = vmfault.Retry
		}
		a, _, task := newNative(t, setup{kernel: ver}, sc)
		a.MaxRetries = 8
		if got := task.Read(base); got.Kind != kernel.OutLivelock {
			t.Errorf("%s: %v, want livelock", ver, got)
		}
		if n := len(sc.flags); n < 9 || n > 10 {
			t.Errorf("%s: handle_mm_fault ran %d times, want the bound's 9 or 10", ver, n)
		}
	}
}
