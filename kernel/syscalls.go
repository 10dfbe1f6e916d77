package kernel

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
)

// MmapArgs are the arguments of mmap(2).
type MmapArgs struct {
	Addr                                   uint64 // with Fixed: the exact address (MAP_FIXED_NOREPLACE)
	Length                                 uint64
	Prot                                   mm.Prot
	Shared                                 bool
	Fixed                                  bool
	GrowsDown, Populate, Locked, NoReserve bool
	Hugetlb                                bool // 2 MiB pages from the pool
	// File names the file to map (empty: anonymous memory), from byte Off.
	File string
	Off  uint64
}

// Mmap maps memory and returns its address in the outcome's value
// (do_mmap, then mm_populate for MAP_POPULATE and MAP_LOCKED). Shared
// anonymous memory is a new shmem object.
func (t *Task) Mmap(a MmapArgs) Outcome {
	return t.call(func() Outcome {
		m := t.MM()
		req := mm.MapRequest{Addr: a.Addr, Length: a.Length, Prot: a.Prot}
		if a.File != "" {
			f := t.k.File(a.File)
			if f == nil {
				return Err(abi.EBADF)
			}
			if a.Off&^m.PageMask() != 0 {
				return Err(abi.EINVAL)
			}
			req.Ops, req.PgOff = f, a.Off>>m.PageShift()
		}
		if a.Fixed {
			req.Flags |= mm.MapFixedNoReplace
		}
		if a.GrowsDown {
			req.Flags |= mm.MapGrowsDown
		}
		if a.Locked {
			req.Flags |= mm.MapLocked
		}
		if a.NoReserve {
			req.Flags |= mm.MapNoReserve
		}
		if a.Shared {
			req.Flags |= mm.MapShared
		}
		switch {
		case a.Hugetlb && req.Ops != nil:
			return Err(abi.EINVAL) // a file not on hugetlbfs
		case a.Hugetlb:
			// The hugetlbfs object reserves its pages when mapped, after
			// the address checks (hugetlbfs_file_mmap).
			req.Flags |= mm.MapHugetlb
			if a.Shared {
				pages := int((a.Length + m.HugePageSize() - 1) / m.HugePageSize())
				req.Ops = memory.NewHugetlbShared(t.k.huge, pages)
			} else {
				req.Ops = memory.NewHugetlbPrivate(t.k.huge)
			}
		case a.Shared && req.Ops == nil:
			req.Ops = memory.NewShmem(t.k.phys, a.Length)
		}
		addr, err := m.Mmap(t, req)
		if err != 0 {
			return Err(err)
		}
		if a.Populate || a.Locked {
			end := addr + (a.Length+m.PageSize()-1)&m.PageMask()
			memory.Populate(m, t, addr, end, memory.PopulateMap) // errors are ignored
		}
		return OKValue(addr)
	})
}

// CreateFile creates (or replaces) the regular file name, size bytes of
// fill, as open(O_CREAT|O_TRUNC) and write(2) by the task leave it: in the
// page cache, dirty, charged to the task's memory cgroup (filemap_add_folio
// charges the writer's), where that group's reclaim may already have
// written some back and dropped them.
func (t *Task) CreateFile(name string, size uint64, fill byte) Outcome {
	return t.call(func() Outcome {
		k := t.k
		k.mu.Lock()
		f := k.files[name]
		isNew := f == nil
		if isNew {
			f = memory.NewFile(name, size, fill, k.phys, k.disk, k.raPages())
			k.files[name] = f
		}
		k.mu.Unlock()
		if !isNew {
			// O_TRUNC keeps the inode: its mappings see it emptied, then
			// written again.
			f.Truncate(t, 0)
			f.Rewrite(size, fill)
		}
		if !f.WriteAll(t) {
			return Err(abi.ENOMEM)
		}
		return OK()
	})
}

// Truncate is truncate(2).
func (t *Task) Truncate(name string, size uint64) Outcome {
	return t.call(func() Outcome {
		f := t.k.File(name)
		if f == nil {
			return Err(abi.ENOENT)
		}
		f.Truncate(t, size)
		return OK()
	})
}

// Evict writes the file back and drops its unmapped pages from the page
// cache (fsync, then posix_fadvise(POSIX_FADV_DONTNEED)).
func (t *Task) Evict(name string) Outcome {
	return t.call(func() Outcome {
		f := t.k.File(name)
		if f == nil {
			return Err(abi.ENOENT)
		}
		f.Evict(t)
		return OK()
	})
}

// HoldIO stalls or resumes the disk reads of a file (model only).
func (t *Task) HoldIO(name string, hold bool) Outcome {
	return t.call(func() Outcome {
		f := t.k.File(name)
		if f == nil {
			return Err(abi.ENOENT)
		}
		f.Hold(hold)
		return OK()
	})
}

// Hugepages sets the pool of 2 MiB pages to n (vm.nr_hugepages); ENOMEM
// when it cannot grow that far.
func (t *Task) Hugepages(n uint64) Outcome {
	return t.call(func() Outcome {
		if got := t.k.huge.Resize(int(n)); uint64(got) < n {
			return Err(abi.ENOMEM)
		}
		return OK()
	})
}

// Munmap is munmap(2).
func (t *Task) Munmap(addr, length uint64) Outcome {
	return t.call(func() Outcome { return Err(t.MM().Munmap(t, addr, length)) })
}

// Mprotect is mprotect(2).
func (t *Task) Mprotect(addr, length uint64, prot mm.Prot) Outcome {
	return t.call(func() Outcome {
		m := t.MM()
		var cow [][2]uint64
		if prot&mm.ProtWrite != 0 {
			cow = m.LockedPrivateReadOnly(t, addr, length)
		}
		err := m.Mprotect(t, addr, length, prot)
		// mprotect_fixup: a private mlocked VMA made writable is populated
		// for writing at once (populate_vma_page_range), taking its
		// copy-on-write copies now.
		for _, r := range cow {
			memory.Populate(m, t, r[0], r[1], memory.PopulateMap)
		}
		return Err(err)
	})
}

// Advice is an madvise(2) advice.
type Advice int

// Advices the model supports.
const (
	MadvDontneed Advice = iota
	MadvPopulateRead
	MadvPopulateWrite
	MadvGuardInstall
	MadvGuardRemove
	MadvRandom
)

// Madvise is madvise(2).
func (t *Task) Madvise(addr, length uint64, advice Advice) Outcome {
	return t.call(func() Outcome {
		m := t.MM()
		switch advice {
		case MadvPopulateRead, MadvPopulateWrite:
			end, err := m.CheckRange(addr, length)
			if err != 0 || end == addr {
				return Err(err)
			}
			mode := memory.PopulateRead
			if advice == MadvPopulateWrite {
				mode = memory.PopulateWrite
			}
			return Err(memory.Populate(m, t, addr, end, mode))
		case MadvDontneed:
			return Err(m.Madvise(t, addr, length, mm.AdviceDontneed))
		case MadvGuardInstall:
			return Err(m.Madvise(t, addr, length, mm.AdviceGuardInstall))
		case MadvGuardRemove:
			return Err(m.Madvise(t, addr, length, mm.AdviceGuardRemove))
		case MadvRandom:
			return Err(m.Madvise(t, addr, length, mm.AdviceRandom))
		}
		return Err(abi.EINVAL)
	})
}

// SetStackLimit is setrlimit(RLIMIT_STACK) for the task's process.
func (t *Task) SetStackLimit(n uint64) Outcome {
	return t.call(func() Outcome {
		t.MM().SetStackLimit(n)
		return OK()
	})
}

// Sigaction sets the disposition of sig for the task's process.
func (t *Task) Sigaction(sig abi.Signal, act SigAction) Outcome {
	return t.call(func() Outcome { return Err(t.SetAction(sig, act)) })
}

// Kill sends sig to target (tgkill).
func (t *Task) Kill(target *Task, sig abi.Signal) Outcome {
	return t.call(func() Outcome {
		if sig <= 0 || sig >= abi.NSig {
			return Err(abi.EINVAL)
		}
		target.SendSignal(sig)
		return OK()
	})
}

// Clone creates a thread of the task's process, sharing its address space.
func (t *Task) Clone(name string) (*Task, Outcome) {
	var nt *Task
	out := t.call(func() Outcome {
		p := t.proc
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.exit != 0 {
			return Outcome{Kind: OutKilled, Signal: p.exit}
		}
		nt = t.k.newTask(p, t.k.newID(), name)
		p.threads = append(p.threads, nt)
		p.live++
		p.mm.Get()
		return OK()
	})
	if out.Kind != OutOK {
		return nil, out
	}
	return nt, out
}

// Fork creates a child process with a copy-on-write copy of the address
// space and the same signal dispositions.
func (t *Task) Fork(name string) (*Task, Outcome) {
	var child *Task
	out := t.call(func() Outcome {
		cm, err := t.MM().Dup(t)
		if err != 0 {
			return Err(err)
		}
		p := &Process{k: t.k, PID: t.k.newID(), mm: cm, parent: t}
		t.proc.mu.Lock()
		p.actions = t.proc.actions
		p.memcg = t.proc.memcg
		t.proc.mu.Unlock()
		child = t.k.newTask(p, p.PID, name)
		p.threads = []*Task{child}
		p.live = 1
		t.k.mu.Lock()
		t.k.procs = append(t.k.procs, p)
		t.k.mu.Unlock()
		return OK()
	})
	if out.Kind != OutOK {
		return nil, out
	}
	return child, out
}
