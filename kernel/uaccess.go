package kernel

import (
	"fmt"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
)

// Read loads one byte at addr in user mode.
func (t *Task) Read(addr uint64) Outcome {
	return t.call(func() Outcome { return t.userAccess(mm.AccessRead, addr, 0) })
}

// Write stores v at addr in user mode.
func (t *Task) Write(addr uint64, v byte) Outcome {
	return t.call(func() Outcome { return t.userAccess(mm.AccessWrite, addr, v) })
}

// Exec fetches and runs the instruction at addr in user mode; the model
// treats every instruction as an immediate return.
func (t *Task) Exec(addr uint64) Outcome {
	return t.call(func() Outcome { return t.userAccess(mm.AccessExec, addr, 0) })
}

// Touch makes one access per page from addr for size bytes and stops at
// the first one that does not succeed.
func (t *Task) Touch(addr, size uint64, acc mm.Access, v byte) Outcome {
	return t.call(func() Outcome {
		for off := uint64(0); off < size; off += phys.PageSize {
			if out := t.userAccess(acc, addr+off, v); out.Kind != OutOK {
				return out
			}
		}
		return OK()
	})
}

// userAccess runs one user-mode instruction that accesses addr: the MMU
// translates; a miss traps into the architecture, and the instruction
// restarts after pending signals are delivered, until it completes or a
// delivered signal ends it.
func (t *Task) userAccess(acc mm.Access, addr uint64, v byte) Outcome {
	arch := t.k.arch
	r := &t.uregs
	*r = Regs{Addr: addr, Access: acc, User: true, Insn: InsnUser}
	for {
		gen := t.k.changeGeneration()
		for n := 0; n <= t.k.MaxRestarts; n++ {
			if page := arch.Translate(t, r); page != nil {
				return access(page, addr, acc, v)
			}
			t.k.tick()
			switch arch.Trap(t, r) {
			case Emulated:
				return OK()
			case Livelock:
				return Outcome{Kind: OutLivelock}
			case Oops, Fixup:
				t.oops()
				return Outcome{Kind: OutOops}
			}
			if out, stop := t.returnToUser(); stop {
				return out
			}
			r.Trap, r.HW = 0, 0
		}
		if !t.spinWait(gen) {
			return Outcome{Kind: OutLivelock}
		}
	}
}

// spinWait is a livelocked access between two rounds of MaxRestarts
// restarts: the real task goes on faulting, and would get through as
// soon as what it faults on changes (the page supplied, the read
// completed, the userfaultfd released). The model waits instead, until a
// call of another task ends (Kernel.changed), then tries again; no signal
// ends the wait, as none ends the loop. It reports false when the
// livelock is final: the kernel does not resume livelocks, or the run is
// ending. gen is the change count before the round that failed: a call
// that ended during it starts the next round at once.
func (t *Task) spinWait(gen uint64) bool {
	k := t.k
	if !k.ResumeLivelocks || k.ending.Load() {
		return false
	}
	ev := k.changeEv.Load()
	if ev == nil {
		ev = sched.NewEvent()
		if !k.changeEv.CompareAndSwap(nil, ev) {
			return true // another waiter installed one, or a call swapped it: try again
		}
	}
	// Installed before this check: a call that ends after it fires ev.
	if k.changeGen.Load() != gen {
		return true
	}
	t.livelocked.Store(true)
	woken := t.Sleep(ev, sched.Uninterruptible)
	t.livelocked.Store(false)
	return woken && !k.ending.Load()
}

// access performs the load, store or fetch on the translated frame.
func access(page *phys.Page, addr uint64, acc mm.Access, v byte) Outcome {
	off := addr & (phys.PageSize - 1)
	switch acc {
	case mm.AccessRead, mm.AccessExec: // a fetch reports the instruction byte
		return OKValue(uint64(page.Data()[off]))
	case mm.AccessWrite:
		page.Data()[off] = v
	}
	return OK()
}

// kernelTranslate translates for a kernel-mode access, taking and handling
// faults until the access can proceed or the trap handler gives up.
// Kernel-mode faults never deliver signals on the way.
func (t *Task) kernelTranslate(r *Regs) (*phys.Page, TrapAction) {
	arch := t.k.arch
	for {
		gen := t.k.changeGeneration()
		for n := 0; n <= t.k.MaxRestarts; n++ {
			if page := arch.Translate(t, r); page != nil {
				return page, Restart
			}
			t.k.tick()
			if act := arch.Trap(t, r); act != Restart {
				return nil, act
			}
			r.Trap, r.HW = 0, 0
		}
		if !t.spinWait(gen) {
			return nil, Livelock
		}
	}
}

// copyUser copies size bytes between the kernel and user memory at addr,
// a page at a time as copy_to_user/copy_from_user do; fill is the byte
// stored by a copy to user memory. It returns the bytes copied before the
// first fault the exception table fixed up, and the action that ended the
// copy early (Restart when it completed). each, if not nil, is told of
// every chunk (its offset in the copy and length) once its user page is
// in, before it is copied; false from it ends the copy there.
func (t *Task) copyUser(addr, size uint64, toUser bool, fill byte, each func(off, n uint64) bool) (uint64, TrapAction) {
	acc, insn := mm.AccessRead, InsnCopyFromUser
	if toUser {
		acc, insn = mm.AccessWrite, InsnCopyToUser
	}
	var done uint64
	for done < size {
		a := addr + done
		r := &t.kregs
		*r = Regs{Addr: a, Access: acc, Insn: insn, UAccess: true}
		page, act := t.kernelTranslate(r)
		if page == nil {
			return done, act
		}
		off := a & (phys.PageSize - 1)
		n := min(size-done, phys.PageSize-off)
		if each != nil && !each(done, n) {
			return done, Restart
		}
		if toUser {
			data := page.Data()[off : off+n]
			for i := range data {
				data[i] = fill
			}
		}
		done += n
	}
	return done, Restart
}

// uaccessResult turns a copy's end into the system call's result: the
// bytes copied, EFAULT when nothing was, or the crash.
func (t *Task) uaccessResult(done uint64, act TrapAction) Outcome {
	switch act {
	case Oops:
		t.oops()
		return Outcome{Kind: OutOops}
	case Livelock:
		return Outcome{Kind: OutLivelock}
	case Fixup:
		if done == 0 {
			return Err(abi.EFAULT)
		}
	}
	return OKValue(done)
}

// KRead is read(2) of size bytes of fill from a regular file into user
// memory at addr: a copy that faults part-way returns the bytes copied
// before the faulting page, EFAULT when none were, as a disk file system's
// read does. The file's page cache is charged to nobody (the host runner
// writes it in the actor just before, charged to the actor's group: the
// model leaves that out).
func (t *Task) KRead(addr, size uint64, fill byte) Outcome {
	return t.call(func() Outcome {
		if !t.k.arch.AccessOK(addr, size) {
			return Err(abi.EFAULT)
		}
		return t.uaccessResult(t.copyUser(addr, size, true, fill, nil))
	})
}

// KWrite is write(2) of size bytes of user memory at addr into a new
// regular file, with KRead's partial-copy rule. Each page written is added
// to the file's page cache, charged to the task's memory cgroup, after the
// user page it copies is faulted in (generic_perform_write); the file is
// deleted after the call, which uncharges it. A page that gets no memory
// ends the write: the bytes written so far, or ENOMEM.
func (t *Task) KWrite(addr, size uint64) Outcome {
	return t.call(func() Outcome {
		if !t.k.arch.AccessOK(addr, size) {
			return Err(abi.EFAULT)
		}
		f := t.kioFile()
		if f == nil {
			return t.uaccessResult(t.copyUser(addr, size, false, 0, nil))
		}
		defer t.k.dropKIO(f)
		f.Truncate(t, size)
		failed := false
		done, act := t.copyUser(addr, size, false, 0, func(off, n uint64) bool {
			if !f.WritePages(t, off>>phys.PageShift, (off+n+phys.PageSize-1)>>phys.PageShift) {
				failed = true
				return false
			}
			return true
		})
		if failed && done == 0 {
			return Err(abi.ENOMEM)
		}
		if failed {
			return OKValue(done)
		}
		return t.uaccessResult(done, act)
	})
}

// kioFile makes the empty regular file a kwrite writes, in the run's file
// system, where reclaim sees its page cache. A task in the root memory
// cgroup gets none (nil): its page cache is charged nowhere, so nothing
// of it can be seen.
func (t *Task) kioFile() *memory.File {
	if t.MemCG() == nil {
		return nil
	}
	k := t.k
	name := fmt.Sprintf(".kio-%d", t.TID) // not a scenario's name: those start with [a-z0-9]
	f := memory.NewFile(name, 0, 0, k.phys, k.disk, k.cfg.ReadAheadKB/4)
	k.mu.Lock()
	k.files[name] = f
	k.mu.Unlock()
	return f
}

// dropKIO deletes a kio file: its page cache is dropped and uncharged.
func (k *Kernel) dropKIO(f *memory.File) {
	k.mu.Lock()
	if k.files[f.Name()] == f {
		delete(k.files, f.Name())
	}
	k.mu.Unlock()
	f.Release()
}

// KDeref is a kernel access to user memory through an instruction with no
// exception-table entry, with user access enabled: a fault the handler
// resolves is harmless, any other is an oops. Model only.
func (t *Task) KDeref(addr uint64, write bool) Outcome {
	return t.call(func() Outcome {
		acc := mm.AccessRead
		if write {
			acc = mm.AccessWrite
		}
		r := &t.kregs
		*r = Regs{Addr: addr, Access: acc, Insn: InsnBuggyDeref, UAccess: true}
		page, act := t.kernelTranslate(r)
		if page == nil {
			return t.uaccessResult(0, act)
		}
		return access(page, addr, acc, 0x41)
	})
}
