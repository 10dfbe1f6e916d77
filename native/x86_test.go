package native_test

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch"
	"github.com/faultline/faultline/arch/x86"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/native"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/vmfault"
)

const (
	pg      = (1 << phys.DefaultPageShift)
	base    = uint64(0x10000000)
	hole    = base + 16*pg       // never mapped
	kaddr   = 0xffffffff81000000 // kernel text
	noncano = 0x8000000000000000 // outside both canonical halves
	vsys    = x86.VsyscallAddr   // the vsyscall page's first entry
	rw      = mm.ProtRead | mm.ProtWrite
)

var (
	v61  = func(c *config.Kernel) { c.Version = config.Version{Major: 6, Minor: 1} }
	v66  = func(c *config.Kernel) { c.Version = config.Version{Major: 6, Minor: 6} }
	noMF = func(c *config.Kernel) { c.MemoryFailure = false }
	pkey = func(c *config.Kernel) { c.PKeys = true }
	vemu = func(c *config.Kernel) { c.Vsyscall = config.VsyscallEmulate }
	vnon = func(c *config.Kernel) { c.Vsyscall = config.VsyscallNone }
)

func segv(code abi.Code, addr uint64) *kernel.SigInfo {
	return &kernel.SigInfo{Signo: abi.SIGSEGV, Code: code, Addr: addr}
}

func bus(code abi.Code, addr uint64, lsb uint8) *kernel.SigInfo {
	return &kernel.SigInfo{Signo: abi.SIGBUS, Code: code, Addr: addr, LSB: lsb}
}

// TestX86Paths runs one access per path of arch/x86/mm/fault.c through a
// real machine with the native handler, and checks what the handler did
// about the trap: its action, the signal it queued, the handle_mm_fault
// calls (with a scripted one), the rule it noted, and that it left no
// lock held.
func TestX86Paths(t *testing.T) {
	const (
		retry = vmfault.Retry
		major = vmfault.Major
	)
	tests := []struct {
		name  string
		cfg   []func(*config.Kernel)
		prot  mm.Prot // of the one page mapped at base
		none  bool    // map it PROT_NONE
		grows bool    // the page is a growsdown stack
		mode  mode
		acc   mm.Access
		addr  uint64
		hw    func(r *kernel.Regs)
		sig   abi.Signal
		rets  []vmfault.Reason // nil: the real handle_mm_fault
		max   int              // MaxRetries, when set

		want      kernel.TrapAction
		wantSig   *kernel.SigInfo
		wantCalls int  // with rets: how many handle_mm_fault calls
		vmaLock   bool // with rets: the first call ran under the VMA lock
		tried     bool // with rets: the last call had FAULT_FLAG_TRIED
		rule      arch.RuleID
	}{
		// do_kern_addr_fault and #GP.
		{name: "user read of a kernel address", mode: user, addr: kaddr, want: kernel.Restart, wantSig: segv(abi.SEGV_MAPERR, kaddr)},
		{name: "kernel read of a kernel address, fixup", mode: kernFixup, addr: kaddr, want: kernel.Fixup},
		{name: "kernel read of a kernel address, no fixup", mode: kernNoFixup, addr: kaddr, want: kernel.Oops},
		{name: "user read of a non-canonical address", mode: user, addr: noncano, want: kernel.Restart,
			wantSig: &kernel.SigInfo{Signo: abi.SIGSEGV, Code: abi.SI_KERNEL}},
		{name: "kernel read of a non-canonical address", mode: kernFixup, addr: noncano, want: kernel.Fixup},

		// The early checks of do_user_addr_fault.
		{name: "SMEP: kernel fetch from user memory", prot: rw | mm.ProtExec, mode: kernFixup, acc: mm.AccessExec, addr: base, want: kernel.Oops},
		{name: "reserved bit", prot: rw, mode: user, addr: base, hw: func(r *kernel.Regs) { r.HW |= x86.PFRsvd }, want: kernel.Oops},
		{name: "SMAP: kernel access without EFLAGS.AC, fixup ignored", prot: rw, mode: kernNoUAccess, addr: base, want: kernel.Oops},
		{name: "faults disabled, fixup", prot: rw, mode: kernNoFault, addr: base, want: kernel.Fixup},
		{name: "user-mode fault without X86_PF_USER on a bad area", mode: user, addr: hole,
			hw: func(r *kernel.Regs) { r.HW &^= x86.PFUser }, want: kernel.Oops},

		// vsyscall.
		{name: "vsyscall call emulated", cfg: cfgs(vemu), mode: user, acc: mm.AccessExec, addr: vsys, want: kernel.Emulated},
		{name: "vsyscall xonly call emulated", mode: user, acc: mm.AccessExec, addr: vsys, want: kernel.Emulated},
		{name: "vsyscall misaligned call", mode: user, acc: mm.AccessExec, addr: vsys + 8, want: kernel.Restart,
			wantSig: &kernel.SigInfo{Signo: abi.SIGSEGV, Code: abi.SI_KERNEL}},
		{name: "vsyscall=none call is a bad area", cfg: cfgs(vnon), mode: user, acc: mm.AccessExec, addr: vsys, want: kernel.Restart,
			wantSig: segv(abi.SEGV_MAPERR, vsys)},
		{name: "vsyscall xonly read is a bad area", mode: user, addr: vsys, want: kernel.Restart, wantSig: segv(abi.SEGV_MAPERR, vsys)},

		// Bad areas and access errors, phase A and phase B.
		{name: "user read of a hole", mode: user, addr: hole, want: kernel.Restart, wantSig: segv(abi.SEGV_MAPERR, hole)},
		{name: "kernel read of a hole, fixup", mode: kernFixup, addr: hole, want: kernel.Fixup},
		{name: "kernel read of a hole, no fixup", mode: kernNoFixup, addr: hole, want: kernel.Oops},
		{name: "user write of a read-only page (VMA lock)", prot: mm.ProtRead, mode: user, acc: mm.AccessWrite, addr: base,
			want: kernel.Restart, wantSig: segv(abi.SEGV_ACCERR, base)},
		{name: "user write of a read-only page, 6.6 (falls back to the mmap lock)", cfg: cfgs(v66), prot: mm.ProtRead, mode: user,
			acc: mm.AccessWrite, addr: base, want: kernel.Restart, wantSig: segv(abi.SEGV_ACCERR, base)},
		{name: "user write of a read-only page, 6.1 (no VMA lock)", cfg: cfgs(v61), prot: mm.ProtRead, mode: user,
			acc: mm.AccessWrite, addr: base, want: kernel.Restart, wantSig: segv(abi.SEGV_ACCERR, base)},
		{name: "user read of PROT_NONE", none: true, mode: user, addr: base, want: kernel.Restart, wantSig: segv(abi.SEGV_ACCERR, base)},
		{name: "user read of a present entry (PROT)", prot: rw, mode: user, addr: base,
			hw: func(r *kernel.Regs) { r.HW |= x86.PFProt }, want: kernel.Restart, wantSig: segv(abi.SEGV_ACCERR, base)},
		{name: "kernel write of a read-only page", prot: mm.ProtRead, mode: kernFixup, acc: mm.AccessWrite, addr: base, want: kernel.Fixup},
		{name: "pkeys: read of an exec-only page", cfg: cfgs(pkey), prot: mm.ProtExec, mode: user, addr: base,
			want: kernel.Restart, wantSig: &kernel.SigInfo{Signo: abi.SIGSEGV, Code: abi.SEGV_PKUERR, Addr: base, PKey: 1}},
		{name: "pkeys: PK bit from the hardware", cfg: cfgs(pkey), prot: rw, mode: user, acc: mm.AccessWrite, addr: base,
			hw: func(r *kernel.Regs) { r.HW |= x86.PFProt | x86.PFPK }, want: kernel.Restart,
			wantSig: &kernel.SigInfo{Signo: abi.SIGSEGV, Code: abi.SEGV_PKUERR, Addr: base}},

		// Resolved by the real handle_mm_fault.
		{name: "user write resolved", prot: rw, mode: user, acc: mm.AccessWrite, addr: base, want: kernel.Restart},
		{name: "user write resolved, 6.1", cfg: cfgs(v61), prot: rw, mode: user, acc: mm.AccessWrite, addr: base, want: kernel.Restart},
		{name: "kernel write resolved", prot: rw, mode: kernFixup, acc: mm.AccessWrite, addr: base, want: kernel.Restart},
		{name: "stack expansion", prot: rw, grows: true, mode: user, acc: mm.AccessWrite, addr: base - pg, want: kernel.Restart},

		// Scripted handle_mm_fault results.
		{name: "done under the VMA lock", prot: rw, mode: user, addr: base, rets: rets(0), want: kernel.Restart, wantCalls: 1, vmaLock: true},
		{name: "6.1: done under the mmap lock", cfg: cfgs(v61), prot: rw, mode: user, addr: base, rets: rets(0), want: kernel.Restart, wantCalls: 1},
		{name: "kernel faults skip the VMA lock", prot: rw, mode: kernFixup, addr: base, rets: rets(0), want: kernel.Restart, wantCalls: 1},
		{name: "COMPLETED", prot: rw, mode: kernFixup, addr: base, rets: rets(vmfault.Completed), want: kernel.Restart, wantCalls: 1},
		{name: "COMPLETED under the VMA lock", prot: rw, mode: user, addr: base, rets: rets(vmfault.Completed), want: kernel.Restart, wantCalls: 1, vmaLock: true},
		{name: "OOM, user: pagefault_out_of_memory", prot: rw, mode: user, addr: base, rets: rets(vmfault.OOM), want: kernel.Restart, wantCalls: 1, vmaLock: true},
		{name: "OOM, kernel", prot: rw, mode: kernFixup, addr: base, rets: rets(vmfault.OOM), want: kernel.Fixup, wantCalls: 1, rule: arch.RuleFixupArgs},
		{name: "OOM, kernel, no fixup", prot: rw, mode: kernNoFixup, addr: base, rets: rets(vmfault.OOM), want: kernel.Oops, wantCalls: 1, rule: arch.RuleFixupArgs},
		{name: "SIGBUS, user", prot: rw, mode: user, addr: base + 5, rets: rets(vmfault.SigBus), want: kernel.Restart,
			wantSig: bus(abi.BUS_ADRERR, base+5, 0), wantCalls: 1, vmaLock: true},
		{name: "SIGBUS, kernel", prot: rw, mode: kernFixup, addr: base, rets: rets(vmfault.SigBus), want: kernel.Fixup, wantCalls: 1},
		{name: "HWPOISON", prot: rw, mode: user, addr: base, rets: rets(vmfault.HWPoison), want: kernel.Restart,
			wantSig: bus(abi.BUS_MCEERR_AR, base, 12), wantCalls: 1, vmaLock: true},
		{name: "HWPOISON without CONFIG_MEMORY_FAILURE", cfg: cfgs(noMF), prot: rw, mode: user, addr: base, rets: rets(vmfault.HWPoison),
			want: kernel.Restart, wantSig: bus(abi.BUS_ADRERR, base, 0), wantCalls: 1, vmaLock: true},
		{name: "HWPOISON_LARGE, 2 MiB", prot: rw, mode: user, addr: base, rets: rets(vmfault.HWPoisonLarge | vmfault.SetHIndex(0)),
			want: kernel.Restart, wantSig: bus(abi.BUS_MCEERR_AR, base, 21), wantCalls: 1, vmaLock: true},
		{name: "HWPOISON_LARGE, 1 GiB", prot: rw, mode: user, addr: base, rets: rets(vmfault.HWPoisonLarge | vmfault.SetHIndex(1)),
			want: kernel.Restart, wantSig: bus(abi.BUS_MCEERR_AR, base, 30), wantCalls: 1, vmaLock: true},
		{name: "both HWPOISON bits: the small page wins", prot: rw, mode: user, addr: base,
			rets: rets(vmfault.HWPoison | vmfault.HWPoisonLarge | vmfault.SetHIndex(1)),
			want: kernel.Restart, wantSig: bus(abi.BUS_MCEERR_AR, base, 12), wantCalls: 1, vmaLock: true},
		{name: "SIGBUS|HWPOISON: poison first", prot: rw, mode: user, addr: base, rets: rets(vmfault.SigBus | vmfault.HWPoison),
			want: kernel.Restart, wantSig: bus(abi.BUS_MCEERR_AR, base, 12), wantCalls: 1, vmaLock: true},
		{name: "OOM|SIGBUS: OOM first", prot: rw, mode: user, addr: base, rets: rets(vmfault.OOM | vmfault.SigBus),
			want: kernel.Restart, wantCalls: 1, vmaLock: true},
		{name: "HWPOISON, kernel", prot: rw, mode: kernFixup, addr: base, rets: rets(vmfault.HWPoison), want: kernel.Fixup, wantCalls: 1, rule: arch.RuleFixupArgs},
		{name: "HWPOISON, kernel, no CONFIG_MEMORY_FAILURE", cfg: cfgs(noMF), prot: rw, mode: kernFixup, addr: base,
			rets: rets(vmfault.HWPoison), want: kernel.Fixup, wantCalls: 1},
		{name: "VM_FAULT_SIGSEGV", prot: rw, mode: user, addr: base, rets: rets(vmfault.SigSegv), want: kernel.Restart,
			wantSig: segv(abi.SEGV_MAPERR, base), wantCalls: 1, vmaLock: true},
		{name: "VM_FAULT_SIGSEGV, kernel", prot: rw, mode: kernFixup, addr: base, rets: rets(vmfault.SigSegv), want: kernel.Fixup, wantCalls: 1},
		{name: "an error bit no branch takes: BUG", prot: rw, mode: user, addr: base, rets: rets(vmfault.Fallback), want: kernel.Oops, wantCalls: 1, vmaLock: true},
		{name: "error with a fatal signal, kernel", prot: rw, mode: kernFixup, addr: base, sig: abi.SIGKILL, rets: rets(vmfault.SigBus),
			want: kernel.Fixup, wantCalls: 1},
		{name: "error with a fatal signal, user", prot: rw, mode: user, addr: base, sig: abi.SIGKILL, rets: rets(vmfault.SigBus),
			want: kernel.Restart, wantSig: bus(abi.BUS_ADRERR, base, 0), wantCalls: 1, vmaLock: true},

		// VM_FAULT_RETRY.
		{name: "RETRY under the VMA lock, then done", prot: rw, mode: user, addr: base, rets: rets(retry, 0), want: kernel.Restart, wantCalls: 2, vmaLock: true},
		{name: "RETRY|MAJOR under the VMA lock: TRIED", prot: rw, mode: user, addr: base, rets: rets(retry|major, 0), want: kernel.Restart,
			wantCalls: 2, vmaLock: true, tried: true},
		{name: "RETRY twice: TRIED", prot: rw, mode: user, addr: base, rets: rets(retry, retry, 0), want: kernel.Restart,
			wantCalls: 3, vmaLock: true, tried: true},
		{name: "RETRY then SIGBUS", prot: rw, mode: user, addr: base, rets: rets(retry, retry, vmfault.SigBus), want: kernel.Restart,
			wantSig: bus(abi.BUS_ADRERR, base, 0), wantCalls: 3, vmaLock: true, tried: true},
		{name: "6.1: RETRY then done", cfg: cfgs(v61), prot: rw, mode: user, addr: base, rets: rets(retry, 0), want: kernel.Restart, wantCalls: 2, tried: true},
		{name: "RETRY with a caught signal, user: return", prot: rw, mode: user, addr: base, sig: abi.SIGUSR1, rets: rets(retry, 0),
			want: kernel.Restart, wantCalls: 1, vmaLock: true},
		{name: "6.1: RETRY with a caught signal, user", cfg: cfgs(v61), prot: rw, mode: user, addr: base, sig: abi.SIGUSR1, rets: rets(retry, 0),
			want: kernel.Restart, wantCalls: 1},
		{name: "RETRY with a caught signal, kernel: retried", prot: rw, mode: kernFixup, addr: base, sig: abi.SIGUSR1, rets: rets(retry, 0),
			want: kernel.Restart, wantCalls: 2, tried: true},
		{name: "RETRY with a fatal signal, kernel", prot: rw, mode: kernFixup, addr: base, sig: abi.SIGKILL, rets: rets(retry, 0),
			want: kernel.Fixup, wantCalls: 1, rule: arch.RuleFixupArgs},
		{name: "RETRY with a fatal signal, kernel, no fixup", prot: rw, mode: kernNoFixup, addr: base, sig: abi.SIGKILL, rets: rets(retry, 0),
			want: kernel.Oops, wantCalls: 1, rule: arch.RuleFixupArgs},
		{name: "RETRY with a fatal signal, user", prot: rw, mode: user, addr: base, sig: abi.SIGKILL, rets: rets(retry, 0),
			want: kernel.Restart, wantCalls: 1, vmaLock: true},
		{name: "RETRY forever: livelock", prot: rw, mode: user, addr: base, rets: rets(retry), max: 5,
			want: kernel.Livelock, wantCalls: 6, vmaLock: true, tried: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			for _, o := range tc.cfg {
				o(&cfg)
			}
			n := native.NewX86(cfg)
			var sc *script
			if tc.rets != nil {
				sc = &script{rets: tc.rets}
				n.Resolve = sc.resolve
			}
			if tc.max != 0 {
				n.MaxRetries = tc.max
			}
			p := &probe{Arch: n, cpu: tc.mode.cpu(tc.acc), hw: tc.hw, sig: tc.sig, oneTrap: tc.rets != nil, scratch: phys.NewReserved()}
			k := kernel.New(cfg, p)
			t.Cleanup(k.Shutdown)
			task := k.Spawn("t")
			if tc.sig == abi.SIGUSR1 {
				task.SetAction(abi.SIGUSR1, kernel.SigCatch)
			}
			if tc.prot != 0 || tc.none {
				out := task.Mmap(kernel.MmapArgs{Addr: base, Length: pg, Prot: tc.prot, Fixed: true, GrowsDown: tc.grows})
				if out.Kind != kernel.OutOK {
					t.Fatalf("mmap: %v", out)
				}
			}
			access(task, tc.mode, tc.acc, tc.addr)
			if !p.trapped {
				t.Fatal("the access did not trap")
			}
			if p.act != tc.want {
				t.Errorf("action %v, want %v", p.act, tc.want)
			}
			switch {
			case tc.wantSig == nil && p.queued:
				t.Errorf("queued %+v, want no signal", p.info)
			case tc.wantSig != nil && !p.queued:
				t.Errorf("no signal queued, want %+v", *tc.wantSig)
			case tc.wantSig != nil && p.info != *tc.wantSig:
				t.Errorf("queued %+v, want %+v", p.info, *tc.wantSig)
			}
			if p.locks != "" {
				t.Errorf("locks left held: %s", p.locks)
			}
			if sc != nil {
				if sc.n != tc.wantCalls {
					t.Errorf("handle_mm_fault called %d times, want %d", sc.n, tc.wantCalls)
				}
				if len(sc.calls) > 0 {
					if got := sc.calls[0].vmaLocked; got != tc.vmaLock {
						t.Errorf("first call under the VMA lock: %v, want %v", got, tc.vmaLock)
					}
					last := sc.calls[len(sc.calls)-1].flags
					if got := last&vmfault.FlagTried != 0; got != tc.tried {
						t.Errorf("last call's flags %v: TRIED %v, want %v", last, got, tc.tried)
					}
					if got, want := sc.calls[0].flags&vmfault.FlagUser != 0, tc.mode == user; got != want {
						t.Errorf("flags %v: USER %v, want %v", sc.calls[0].flags, got, want)
					}
				}
			}
			noted := k.RulesNoted()
			if tc.rule != 0 && noted&tc.rule.Bit() == 0 {
				t.Errorf("rule %s not noted", arch.Lookup(tc.rule).Name)
			}
			if tc.rule == 0 && noted != 0 {
				t.Errorf("rules noted: %v", arch.Noted(noted))
			}
		})
	}
}

func cfgs(o ...func(*config.Kernel)) []func(*config.Kernel) { return o }

func rets(r ...vmfault.Reason) []vmfault.Reason { return r }

// TestX86AccessResolves checks that an access the native handler resolves
// with the real handle_mm_fault then completes, reading what was mapped,
// and that a stack grows.
func TestX86AccessResolves(t *testing.T) {
	for _, v := range []config.Version{{Major: 6, Minor: 18}, {Major: 6, Minor: 1}} {
		cfg := config.Default()
		cfg.Version = v
		k := kernel.New(cfg, native.NewX86(cfg))
		task := k.Spawn("t")
		if out := task.Mmap(kernel.MmapArgs{Addr: base, Length: pg, Prot: rw, Fixed: true, GrowsDown: true}); out.Kind != kernel.OutOK {
			t.Fatal(out)
		}
		if out := task.Write(base+8, 7); out.Kind != kernel.OutOK {
			t.Errorf("%v: write: %v", v, out)
		}
		if out := task.Read(base + 8); out.Kind != kernel.OutOK || out.Value != 7 {
			t.Errorf("%v: read back: %v", v, out)
		}
		if out := task.Write(base-pg, 1); out.Kind != kernel.OutOK {
			t.Errorf("%v: write below the stack: %v", v, out)
		}
		if out := task.KRead(base-pg, 2*pg, 0x33); out.Kind != kernel.OutOK || out.Value != 2*pg {
			t.Errorf("%v: kread: %v", v, out)
		}
		k.Shutdown()
	}
}
