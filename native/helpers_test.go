package native_test

import (
	"fmt"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/vmfault"
)

// probe wraps a machine's architecture for a test: it plays the CPU for
// the first access (cpu adjusts the registers of the access, as the
// instruction under test would have them, and hw the trap the MMU
// reports), sends a signal as the fault is taken, and records what the
// handler under test did about that first trap: its TrapAction, the fault
// signal it queued, and the locks left held when it returned.
type probe struct {
	kernel.Arch
	cpu func(r *kernel.Regs) // before the first translation; nil: as the entry made it
	hw  func(r *kernel.Regs) // after a first translation that missed; nil: as the MMU reported it
	sig abi.Signal           // sent to the task as the first access traps; 0: none
	// oneTrap: after the first trap every translation succeeds on a
	// scratch page (the scripted resolver maps nothing), so the access
	// ends after the one trap under test.
	oneTrap bool
	scratch *phys.Page

	translated bool
	trapped    bool
	act        kernel.TrapAction
	info       kernel.SigInfo
	queued     bool
	locks      string // the locks held after the trap, "" when none
}

func (p *probe) Translate(t *kernel.Task, r *kernel.Regs) *phys.Page {
	if p.translated {
		if p.trapped && p.oneTrap {
			return p.scratch
		}
		return p.Arch.Translate(t, r)
	}
	p.translated = true
	if p.cpu != nil {
		p.cpu(r)
	}
	page := p.Arch.Translate(t, r)
	if page != nil {
		return page
	}
	if p.hw != nil {
		p.hw(r)
	}
	if p.sig != 0 {
		t.SendSignal(p.sig)
	}
	return nil
}

func (p *probe) Trap(t *kernel.Task, r *kernel.Regs) kernel.TrapAction {
	act := p.Arch.Trap(t, r)
	if p.trapped {
		return act
	}
	p.trapped, p.act = true, act
	p.info, p.queued = t.PendingFault()
	if m := t.MM(); m != nil {
		if rd, w, v := m.LockState(); rd != 0 || w || v != 0 {
			p.locks = fmt.Sprintf("mmap readers %d, writer %v, VMA readers %d", rd, w, v)
		}
	}
	return act
}

// call is one handle_mm_fault call a script saw.
type call struct {
	flags     vmfault.Flags
	vmaLocked bool
}

// script is a scripted handle_mm_fault: the n-th call returns rets[n]
// (the last one once they run out) and, as handle_mm_fault does, releases
// the fault's lock when the result has VM_FAULT_RETRY or COMPLETED.
type script struct {
	rets  []vmfault.Reason
	n     int
	calls []call // the first 64
}

func (s *script) resolve(v *mm.VMA, addr uint64, flags vmfault.Flags, t memory.Faulter) vmfault.Reason {
	locked := flags&vmfault.FlagVMALock != 0
	s.n++
	if len(s.calls) < 64 {
		s.calls = append(s.calls, call{flags, locked})
	}
	ret := s.rets[min(s.n, len(s.rets))-1]
	if ret&(vmfault.Retry|vmfault.Completed) != 0 {
		mm.ReleaseFaultLock(v, locked)
	}
	return ret
}

// mode is who makes the faulting access, and how.
type mode int

const (
	user          mode = iota // a user-mode instruction
	kernFixup                 // a uaccess routine's access, with an exception-table entry
	kernNoFixup               // a uaccess-enabled kernel access with no entry
	kernNoUAccess             // a kernel access with user access disabled (x86 SMAP), with an entry
	kernNoFault               // a uaccess routine under pagefault_disable(), with an entry
)

var modes = []mode{user, kernFixup, kernNoFixup, kernNoUAccess, kernNoFault}

func (m mode) String() string {
	return [...]string{"user", "kernel+fixup", "kernel-nofixup", "kernel-nouaccess", "kernel-nofault"}[m]
}

// cpu returns what sets the registers of a kernel-mode access of the
// mode (the entry used, KDeref, makes a plain uaccess-enabled read).
func (m mode) cpu(acc mm.Access) func(r *kernel.Regs) {
	if m == user {
		return nil
	}
	return func(r *kernel.Regs) {
		r.Access = acc
		r.Insn = kernel.InsnCopyFromUser
		if m == kernNoFixup {
			r.Insn = kernel.InsnBuggyDeref
		}
		r.UAccess = m != kernNoUAccess
		r.NoFault = m == kernNoFault
	}
}

// access makes the access from the mode's entry: a user load, store or
// fetch, or a kernel access (KDeref, its registers set by the probe).
func access(t *kernel.Task, m mode, acc mm.Access, addr uint64) kernel.Outcome {
	if m != user {
		return t.KDeref(addr, false)
	}
	switch acc {
	case mm.AccessWrite:
		return t.Write(addr, 0x5a)
	case mm.AccessExec:
		return t.Exec(addr)
	}
	return t.Read(addr)
}
