package native

import (
	"slices"
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch/s390"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/vmfault"
)

// s390Machine is the native s390x machine of a test, its
// handle_mm_fault scripted by s when s is not nil.
func s390Machine(t *testing.T, version config.Version, memoryFailure bool, s *script) (*kernel.Kernel, *kernel.Task) {
	t.Helper()
	cfg := config.Default()
	cfg.Version, cfg.MemoryFailure = version, memoryFailure
	a := NewS390(cfg)
	if s != nil {
		a.Resolve = s.resolve
	}
	a.MaxRetries = 50
	k := kernel.New(cfg, a)
	t.Cleanup(k.Shutdown)
	task := k.Spawn("t")
	out := task.Mmap(kernel.MmapArgs{Addr: base, Length: 2 * pg, Prot: mm.ProtRead | mm.ProtWrite, Fixed: true})
	if out.Kind != kernel.OutOK {
		t.Fatalf("mmap: %v", out)
	}
	return k, task
}

// TestS390Paths drives do_exception's version-dependent decoding with
// scripted handle_mm_fault results: what each version does with poison
// and with SIGSEGV beside SIGBUS, at the page the TEID names, and the
// rule each departure from the generic handler notes.
func TestS390Paths(t *testing.T) {
	v612 := config.Version{Major: 6, Minor: 12}
	v610 := config.Version{Major: 6, Minor: 10}
	addr := base + 0x123 // the TEID reports base
	large := vmfault.HWPoisonLarge | vmfault.SetHIndex(1)
	tests := []struct {
		name    string
		version config.Version
		mf      bool
		ret     vmfault.Reason
		access  string
		want    outcome
		rules   []string
	}{
		{"SIGBUS at the page", v618, true, vmfault.SigBus, "read", sig(abi.SIGBUS, abi.BUS_ADRERR, base), nil},
		{"poison is BUS_ADRERR", v618, true, vmfault.HWPoison, "read", sig(abi.SIGBUS, abi.BUS_ADRERR, base), []string{"poison-as-adrerr"}},
		{"poison without CONFIG_MEMORY_FAILURE: no difference", v618, false, vmfault.HWPoison, "read", sig(abi.SIGBUS, abi.BUS_ADRERR, base), nil},
		{"large poison from 6.13", v618, true, large, "write", sig(abi.SIGBUS, abi.BUS_ADRERR, base), []string{"poison-as-adrerr"}},
		{"large poison in 6.12: BUG()", v612, true, large, "read", oops, []string{"poison-large-bug"}},
		{"large poison in kernel mode in 6.12: BUG() too", v612, true, large, "kread", oops, []string{"poison-large-bug"}},
		{"small poison in 6.12", v612, false, vmfault.HWPoison, "read", sig(abi.SIGBUS, abi.BUS_ADRERR, base), nil},
		{"small poison before 6.11: BUG()", v610, false, vmfault.HWPoison, "read", oops, []string{"poison-large-bug"}},
		{"SIGSEGV before SIGBUS", v618, true, vmfault.SigSegv | vmfault.SigBus, "read", sig(abi.SIGSEGV, abi.SEGV_MAPERR, base), []string{"sigsegv-before-sigbus"}},
		{"SIGSEGV alone", v612, true, vmfault.SigSegv, "read", sig(abi.SIGSEGV, abi.SEGV_MAPERR, base), nil},
		{"SIGBUS in kernel mode: fixup", v618, true, vmfault.SigBus, "kread", errno(abi.EFAULT), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, task := s390Machine(t, tc.version, tc.mf, &script{rets: []vmfault.Reason{tc.ret}})
			var got kernel.Outcome
			switch tc.access {
			case "read":
				got = task.Read(addr)
			case "write":
				got = task.Write(addr, 1)
			case "kread":
				got = task.KRead(addr, 8, 7)
			}
			check(t, got, tc.want)
			if r := rules(k.RulesNoted()); !slices.Equal(r, tc.rules) {
				t.Errorf("rules noted %v, want %v", r, tc.rules)
			}
		})
	}
}

// TestS390NoInstructionFlag: a fetch reaches handle_mm_fault as a read,
// without FAULT_FLAG_INSTRUCTION, at the TEID's page, in every version.
func TestS390NoInstructionFlag(t *testing.T) {
	for _, v := range []config.Version{v618, {Major: 6, Minor: 12}, v61} {
		s := &script{rets: []vmfault.Reason{vmfault.SigBus}}
		_, task := s390Machine(t, v, true, s)
		check(t, task.Exec(base+0x40), sig(abi.SIGBUS, abi.BUS_ADRERR, base))
		if len(s.calls) != 1 || s.calls[0]&(vmfault.FlagInstruction|vmfault.FlagWrite) != 0 || s.calls[0]&vmfault.FlagUser == 0 {
			t.Errorf("%s: handle_mm_fault flags %v, want a user read", v, s.calls)
		}
	}
}

// TestS390ProtectionExceptions: the NX and low-address cases end before
// any VMA is looked up (no handle_mm_fault call), as DAT reports them.
func TestS390ProtectionExceptions(t *testing.T) {
	tests := []struct {
		name string
		r    kernel.Regs
		want kernel.TrapAction
		sig  bool
	}{
		{"NX in user mode: SEGV_ACCERR", kernel.Regs{Addr: base + 8, Access: mm.AccessExec, User: true, Trap: s390.PgmProtection,
			HW: base | s390.TEIDB56 | s390.TEIDB61 | s390.FSIFetch<<10}, kernel.Restart, true},
		{"low-address protection in user mode dies", kernel.Regs{Addr: 8, Access: mm.AccessWrite, User: true, Trap: s390.PgmProtection}, kernel.Oops, false},
		{"low-address protection in kernel mode, no fixup", kernel.Regs{Addr: 8, Access: mm.AccessWrite, Insn: kernel.InsnBuggyDeref, Trap: s390.PgmProtection}, kernel.Oops, false},
		{"low-address protection in kernel mode, fixup", kernel.Regs{Addr: 8, Access: mm.AccessWrite, Insn: kernel.InsnCopyToUser, Trap: s390.PgmProtection}, kernel.Fixup, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{rets: []vmfault.Reason{vmfault.SigBus}}
			cfg := config.Default()
			a := NewS390(cfg)
			a.Resolve = s.resolve
			k := kernel.New(cfg, a)
			t.Cleanup(k.Shutdown)
			task := k.Spawn("t")
			r := tc.r
			if act := a.Trap(task, &r); act != tc.want {
				t.Fatalf("action %v, want %v", act, tc.want)
			}
			info, queued := task.PendingFault()
			if queued != tc.sig || queued && (info.Signo != abi.SIGSEGV || info.Code != abi.SEGV_ACCERR || info.Addr != base) {
				t.Errorf("queued %v %+v, want SIGSEGV SEGV_ACCERR @%#x: %v", queued, info, base, tc.sig)
			}
			if len(s.calls) != 0 {
				t.Errorf("handle_mm_fault was called %d times", len(s.calls))
			}
		})
	}
}

// blockWatch reports each task that goes to sleep.
type blockWatch chan *kernel.Task

func (b blockWatch) TaskBlocked(t *kernel.Task) { b <- t }
func (b blockWatch) TaskRunning(*kernel.Task)   {}

// TestS390MmapLockUninterruptible: before 6.13 a fault that finds the
// mmap lock held sleeps for it uninterruptibly and notes the rule: a
// SIGKILL sent meanwhile does not end the wait (the fault goes on once
// the lock is released, then the kill is delivered). (From 6.13 the
// wait is killable; the model's exit_mmap cannot run with the test's
// lock held, so that side is the generic handler's tests'.)
func TestS390MmapLockUninterruptible(t *testing.T) {
	cfg := config.Default()
	cfg.Version = config.Version{Major: 6, Minor: 12}
	a := NewS390(cfg)
	k := kernel.New(cfg, a)
	t.Cleanup(k.Shutdown)
	watch := make(blockWatch, 8)
	k.SetObserver(watch)
	task := k.Spawn("t")
	out := task.Mmap(kernel.MmapArgs{Addr: base, Length: pg, Prot: mm.ProtRead | mm.ProtWrite, Fixed: true})
	if out.Kind != kernel.OutOK {
		t.Fatalf("mmap: %v", out)
	}
	m := task.MM()
	if !m.MmapWriteTryLock() {
		t.Fatal("the mmap lock is taken")
	}
	done := make(chan kernel.Outcome, 1)
	// A kernel copy: no per-VMA lock, straight to the mmap lock.
	go func() { done <- task.KRead(base, 8, 7) }()
	if got := <-watch; got != task {
		t.Fatalf("%v went to sleep", got)
	}
	task.SendSignal(abi.SIGKILL)
	select {
	case out := <-done:
		t.Fatalf("the kill ended an uninterruptible wait: %v", out)
	default:
	}
	m.MmapWriteUnlock()
	if out := <-done; out.Kind != kernel.OutKilled {
		t.Errorf("outcome %v, want killed", out)
	}
	if r := rules(k.RulesNoted()); !slices.Equal(r, []string{"mmap-lock-uninterruptible"}) {
		t.Errorf("rules noted %v, want mmap-lock-uninterruptible", r)
	}
}
