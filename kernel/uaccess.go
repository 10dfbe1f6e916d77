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
		for off := uint64(0); off < size; off += t.k.phys.PageSize() {
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
				return access(page, addr, t.k.phys.PageSize(), acc, v)
			}
			t.k.tick()
			var act TrapAction
			if t.track == nil {
				act = arch.Trap(t, r)
			} else {
				act = t.tracedTrap(arch, r)
			}
			switch act {
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
		if !t.spinWait(gen, sched.Uninterruptible) {
			return Outcome{Kind: OutLivelock}
		}
	}
}

// spinWait is a livelocked access between two rounds of MaxRestarts
// restarts: the real task goes on faulting, and would get through as
// soon as what it faults on changes (the page supplied, the read
// completed, the userfaultfd released). The model waits instead, until a
// call of another task ends (Kernel.changed), then tries again; only the
// signals mode lets through end the wait (none ends a fault loop; a fatal
// one ends write(2)'s). It reports false when the livelock is final: the
// kernel does not resume livelocks, the run is ending, or a signal ended
// the wait. gen is the change count before the round that failed: a call
// that ended during it starts the next round at once.
func (t *Task) spinWait(gen uint64, mode sched.Mode) bool {
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
	woken := t.Sleep(ev, mode)
	t.livelocked.Store(false)
	return woken && !k.ending.Load()
}

// access performs the load, store or fetch on the translated frame, whose
// offsets are below pageSize.
func access(page *phys.Page, addr, pageSize uint64, acc mm.Access, v byte) Outcome {
	off := addr & (pageSize - 1)
	switch acc {
	case mm.AccessRead, mm.AccessExec: // a fetch reports the instruction byte
		return OKValue(uint64(page.Contents()[off]))
	case mm.AccessWrite:
		page.Store(off, v)
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
			var act TrapAction
			if t.track == nil {
				act = arch.Trap(t, r)
			} else {
				act = t.tracedTrap(arch, r)
			}
			if act != Restart {
				return nil, act
			}
			r.Trap, r.HW = 0, 0
		}
		if !t.spinWait(gen, sched.Uninterruptible) {
			return nil, Livelock
		}
	}
}

// faultInUser makes the accesses a user copy of [addr, addr+n) makes, a
// page at a time (for a copy to user memory, stores): a fault the handler
// resolves is invisible to the copy routine, which goes on. It returns
// the first address whose fault the exception table fixes up instead
// (the copy's Fault; addr+n when none does), and the action that ended a
// fault otherwise (Oops, Livelock; Restart when the range is in).
func (t *Task) faultInUser(addr, n uint64, toUser bool) (uint64, TrapAction) {
	acc, insn := mm.AccessRead, InsnCopyFromUser
	if toUser {
		acc, insn = mm.AccessWrite, InsnCopyToUser
	}
	for a := addr; a < addr+n; a = (a | (t.k.phys.PageSize() - 1)) + 1 {
		r := &t.kregs
		*r = Regs{Addr: a, Access: acc, Insn: insn, UAccess: true}
		if page, act := t.kernelTranslate(r); page == nil {
			if act == Fixup {
				return a, Restart
			}
			return a, act
		}
	}
	return addr + n, Restart
}

// mappedUser is faultInUser with page faults disabled
// (pagefault_disable, as copy_folio_from_iter_atomic runs): the first
// address of [addr, addr+n) whose page the MMU does not translate for a
// load.
func (t *Task) mappedUser(addr, n uint64) uint64 {
	for a := addr; a < addr+n; a = (a | (t.k.phys.PageSize() - 1)) + 1 {
		r := &t.kregs
		*r = Regs{Addr: a, Access: mm.AccessRead, Insn: InsnCopyFromUser, UAccess: true}
		if t.k.arch.Translate(t, r) == nil {
			return a
		}
	}
	return addr + n
}

// storeUser writes n bytes of fill at addr, where a copy to user memory
// stored them; the pages are in (the copy's faults brought them).
func (t *Task) storeUser(addr, n uint64, fill byte) {
	for a := addr; a < addr+n; {
		r := &t.kregs
		*r = Regs{Addr: a, Access: mm.AccessWrite, Insn: InsnCopyToUser, UAccess: true}
		end := min(addr+n, (a|(t.k.phys.PageSize()-1))+1)
		if page := t.k.arch.Translate(t, r); page != nil {
			page.FillRange(a&(t.k.phys.PageSize()-1), end-a, fill)
		}
		a = end
	}
}

// copyUser runs the arch's user-copy routine on c. A copy none of whose
// accesses can fault completes whatever the routine's shape: all c.N
// bytes are copied and, to user memory, stored; only a copy that may
// fault needs the routine run access by access, for the count it reports.
// A routine stores only inside the destination, but may load past the end
// of a user source, to the end of the aligned word holding its last byte
// (riscv64's shifting copy loads whole words; a fault there, as
// UserCopy's rule sees it, stops the copy short). TestCopyUserWhole checks
// every routine against this.
func (t *Task) copyUser(c UserCopy) (copied, stored uint64) {
	const word = 8 // the widest aligned load a routine makes
	switch {
	case c.ToUser && c.Fault >= c.User+c.N:
		return c.N, c.N
	case !c.ToUser && c.Fault >= (c.User+c.N+word-1)&^(word-1):
		return c.N, 0
	}
	return t.k.arch.CopyUser(c)
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
// memory at addr (filemap_read): a page-cache page at a time, each
// copied by copy_page_to_iter, which calls the arch's copy_to_user again
// from where a partial copy stopped until one makes no progress. So the
// count of a copy that faults part-way is the arch's: every byte before
// the fault where the routine reaches it (x86_64, arm64), possibly fewer
// (riscv64's 64-byte blocks); EFAULT when none was copied. The file's
// page cache is charged to nobody (the host runner writes it in the actor
// just before, charged to the actor's group: the model leaves that out).
func (t *Task) KRead(addr, size uint64, fill byte) Outcome {
	return t.call(func() Outcome {
		if !t.k.arch.AccessOK(addr, size) {
			return Err(abi.EFAULT)
		}
		var done uint64
		pageSize := t.k.phys.PageSize()
		for done < size {
			off := done & (pageSize - 1)
			for chunk := min(size-done, pageSize-off); chunk > 0; {
				u := addr + done
				f, act := t.faultInUser(u, chunk, true)
				if act != Restart {
					return t.uaccessResult(done, act)
				}
				n, stored := t.copyUser(UserCopy{ToUser: true, User: u, Kern: off, N: chunk, Fault: f})
				t.storeUser(u, stored, fill)
				if n == 0 {
					return t.uaccessResult(done, Fixup)
				}
				done, off, chunk = done+n, off+n, chunk-n
			}
		}
		return OKValue(done)
	})
}

// KWrite is write(2) of size bytes of user memory at addr into a new
// regular file on a block file system with 4 KiB blocks
// (generic_perform_write): a page-cache page at a time, it faults the
// source in (fault_in_iov_iter_readable: nothing readable ends the write,
// with EFAULT if it wrote nothing), adds the page to the file's cache,
// charged to the task's memory cgroup (a page that gets no memory ends
// the write: the bytes written so far, or ENOMEM), and copies with page
// faults disabled. A short copy into a page not yet up to date is
// refused whole (block_write_end), and the write tries again with the
// length that was copied; a copy that makes no progress is tried again
// as it is, which never ends where the arch's copy cannot reach readable
// bytes before the fault (riscv64's shifting copy: livelock; a fatal
// signal ends it). The file is deleted after the call, which uncharges
// it.
func (t *Task) KWrite(addr, size uint64) Outcome {
	return t.call(func() Outcome {
		if !t.k.arch.AccessOK(addr, size) {
			return Err(abi.EFAULT)
		}
		f := t.kioFile()
		if f != nil {
			defer t.k.dropKIO(f)
			f.Truncate(t, size)
		}
		var done, retry uint64 // retry: the length the copy is tried again with
		pageSize, pageShift := t.k.phys.PageSize(), t.k.phys.PageShift()
		for done < size {
			off := done & (pageSize - 1)
			bytes := min(size-done, pageSize-off)
			if retry != 0 {
				bytes, retry = retry, 0
			}
			gen := t.k.changeGeneration()
			u := addr + done
			ready, act := t.faultInUser(u, bytes, false)
			switch {
			case act != Restart:
				return t.uaccessResult(done, act)
			case ready == u:
				return t.uaccessResult(done, Fixup)
			case t.FatalSignalPending():
				return t.writeEnd(done, abi.EINTR)
			}
			if f != nil && !f.WritePages(t, done>>pageShift, done>>pageShift+1) {
				return t.writeEnd(done, abi.ENOMEM)
			}
			copied, _ := t.copyUser(UserCopy{User: u, Kern: off, N: bytes, Fault: t.mappedUser(u, bytes)})
			switch {
			case copied == bytes, copied > 0 && off != 0:
				// Taken: a page written in part is up to date (its
				// new block was zeroed around the first write).
				done += copied
			case copied > 0:
				// A short copy into a page nothing was written to:
				// refused whole; again with the length that was copied.
				retry = copied
			default:
				// No progress: the same copy again, for as long as
				// nothing changes.
				if !t.spinWait(gen, sched.Killable) {
					if t.FatalSignalPending() {
						return t.writeEnd(done, abi.EINTR)
					}
					return Outcome{Kind: OutLivelock}
				}
			}
		}
		return OKValue(done)
	})
}

// writeEnd is a write that stopped with err: the bytes written, else err.
func (t *Task) writeEnd(done uint64, err abi.Errno) Outcome {
	if done > 0 {
		return OKValue(done)
	}
	return Err(err)
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
	f := memory.NewFile(name, 0, 0, k.phys, k.disk, k.raPages())
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
		return access(page, addr, t.k.phys.PageSize(), acc, 0x41)
	})
}
