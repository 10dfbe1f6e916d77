package bench

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
)

// The benchmarks run machines of the default configuration, whose base
// page is 4 KiB on every arch they run.
const (
	pageShift = 12
	pageSize  = 1 << pageShift
)

// HostArch is the Linux name of the architecture this program runs on.
func HostArch() string { return abi.ArchName(runtime.GOARCH) }

// Model runs workloads on a modeled machine: a fresh one for every run,
// started from a collected heap.
type Model struct {
	Arch    string          // a modeled architecture (machine.Arches)
	Handler machine.Handler // the fault path
	Config  config.Kernel
}

// Check reports whether the model can run at all (a modeled arch).
func (m Model) Check() error {
	if !machine.Modeled(m.Arch) {
		return &SkipError{fmt.Sprintf("the %q architecture is not modeled (modeled: %v)", m.Arch, machine.Arches())}
	}
	return nil
}

// Run runs w once with ops faults.
func (m Model) Run(w Workload, ops uint64) (Sample, error) {
	if err := m.Check(); err != nil {
		return Sample{}, err
	}
	// The previous run's garbage is collected before this one starts, so
	// that its collection does not land in this run's fault phases (this
	// run's own allocations still cost what they cost).
	runtime.GC()
	k, err := machine.New(m.Arch, m.Config, m.Handler)
	if err != nil {
		return Sample{}, err
	}
	defer k.Shutdown() // every sleep ends: no goroutine outlives the run
	r := &modelRun{k: k, s: Sample{Ops: ops}}
	t := k.Spawn("bench")
	switch w.Kind {
	case AnonWrite:
		err = r.anon(t, ops)
	case CowFork:
		err = r.cow(t, ops)
	case FileRead:
		err = r.file(t, ops)
	case UffdMissing:
		err = r.uffd(t, ops)
	case Threads:
		err = r.parallel(t, ops, w.Threads, false)
	case Procs:
		err = r.parallel(t, ops, w.Threads, true)
	default:
		err = fmt.Errorf("bench: unknown workload %q", w.Name)
	}
	return r.s, err
}

// modelRun is one run on the model: its machine and what it measured.
type modelRun struct {
	k *kernel.Kernel
	s Sample
}

// faults is a task's minor plus major faults.
func faults(t *kernel.Task) uint64 {
	min, maj := t.Faults()
	return uint64(min + maj)
}

// timed runs fn on t as a fault phase: its time and t's faults count.
func (r *modelRun) timed(t *kernel.Task, fn func() kernel.Outcome) error {
	f0 := faults(t)
	t0 := time.Now()
	out := fn()
	r.s.Elapsed += time.Since(t0)
	r.s.Faults += faults(t) - f0
	if out.Kind != kernel.OutOK {
		return fmt.Errorf("model: fault phase: %v", out)
	}
	return nil
}

// mapAnon maps n fresh private anonymous pages.
func mapAnon(t *kernel.Task, n uint64) (uint64, error) {
	out := t.Mmap(kernel.MmapArgs{Length: n << pageShift, Prot: mm.ProtRead | mm.ProtWrite})
	if out.Kind != kernel.OutOK {
		return 0, fmt.Errorf("model: mmap %d pages: %v", n, out)
	}
	return out.Value, nil
}

func unmap(t *kernel.Task, addr, n uint64) error {
	if out := t.Munmap(addr, n<<pageShift); out.Kind != kernel.OutOK {
		return fmt.Errorf("model: munmap: %v", out)
	}
	return nil
}

// chunks calls fn for each chunk of ops, ChunkPages at most.
func chunks(ops uint64, fn func(n uint64) error) error {
	for ops > 0 {
		n := min(ops, ChunkPages)
		if err := fn(n); err != nil {
			return err
		}
		ops -= n
	}
	return nil
}

// anon is anon-write: mmap, write every page once, munmap.
func (r *modelRun) anon(t *kernel.Task, ops uint64) error {
	return chunks(ops, func(n uint64) error {
		base, err := mapAnon(t, n)
		if err != nil {
			return err
		}
		if err := r.timed(t, func() kernel.Outcome { return t.Touch(base, n<<pageShift, mm.AccessWrite, 1) }); err != nil {
			return err
		}
		return unmap(t, base, n)
	})
}

// cow is cow-fork: the pages written, a child forked, the parent writes
// them again; the child unmaps its copy after.
func (r *modelRun) cow(t *kernel.Task, ops uint64) error {
	return chunks(ops, func(n uint64) error {
		base, err := mapAnon(t, n)
		if err != nil {
			return err
		}
		size := n << pageShift
		if out := t.Touch(base, size, mm.AccessWrite, 1); out.Kind != kernel.OutOK {
			return fmt.Errorf("model: populate: %v", out)
		}
		child, out := t.Fork("child")
		if out.Kind != kernel.OutOK {
			return fmt.Errorf("model: fork: %v", out)
		}
		if err := r.timed(t, func() kernel.Outcome { return t.Touch(base, size, mm.AccessWrite, 2) }); err != nil {
			return err
		}
		t.Kill(child, abi.SIGKILL)
		return unmap(t, base, n)
	})
}

// file is file-read-cached: a 16 MiB file written (its pages cached),
// read once through a mapping, then mapped again and again, one load per
// fault-around window.
func (r *modelRun) file(t *kernel.Task, ops uint64) error {
	const size = ChunkPages << pageShift
	const stride = FaultAroundPages << pageShift
	if out := t.CreateFile("bench", size, 0x5a); out.Kind != kernel.OutOK {
		return fmt.Errorf("model: create the file: %v", out)
	}
	mapFile := func() (uint64, error) {
		out := t.Mmap(kernel.MmapArgs{Length: size, Prot: mm.ProtRead, File: "bench"})
		if out.Kind != kernel.OutOK {
			return 0, fmt.Errorf("model: mmap the file: %v", out)
		}
		return out.Value, nil
	}
	base, err := mapFile()
	if err != nil {
		return err
	}
	if out := t.Touch(base, size, mm.AccessRead, 0); out.Kind != kernel.OutOK {
		return fmt.Errorf("model: warm-up: %v", out)
	}
	if err := unmap(t, base, ChunkPages); err != nil {
		return err
	}
	for ops > 0 {
		k := min(ops, ChunkPages/FaultAroundPages)
		base, err := mapFile()
		if err != nil {
			return err
		}
		err = r.timed(t, func() kernel.Outcome {
			for i := range k {
				if out := t.Read(base + i*stride); out.Kind != kernel.OutOK {
					return out
				}
			}
			return kernel.OK()
		})
		if err != nil {
			return err
		}
		if err := unmap(t, base, ChunkPages); err != nil {
			return err
		}
		ops -= k
	}
	return nil
}

// uffd is uffd-missing: a handler thread reads each fault's message and
// resolves it with UFFDIO_COPY while the faulting thread writes.
func (r *modelRun) uffd(t *kernel.Task, ops uint64) error {
	handler, out := t.Clone("handler")
	if out.Kind != kernel.OutOK {
		return fmt.Errorf("model: clone: %v", out)
	}
	herr := make(chan error, 1)
	serve := func() {
		for range ops {
			ev := handler.UffdEvent("u")
			if ev.Kind != kernel.OutFault {
				r.k.Shutdown() // the faulting thread would wait for ever
				herr <- fmt.Errorf("model: uffd read: %v", ev)
				return
			}
			if out := handler.UffdFill("u", ev.Msg.Addr&^(pageSize-1), pageSize, memory.FillCopy, 0x5a); out.Kind != kernel.OutOK && out.Errno != abi.EEXIST {
				r.k.Shutdown()
				herr <- fmt.Errorf("model: UFFDIO_COPY: %v", out)
				return
			}
		}
		herr <- nil
	}
	started := false
	err := chunks(ops, func(n uint64) error {
		base, err := mapAnon(t, n)
		if err != nil {
			return err
		}
		if out := t.UffdRegister("u", base, n<<pageShift, memory.UffdMissing, false); out.Kind != kernel.OutOK {
			return fmt.Errorf("model: UFFDIO_REGISTER: %v", out)
		}
		if !started { // the first registration opened the context
			started = true
			go serve()
		}
		if err := r.timed(t, func() kernel.Outcome { return t.Touch(base, n<<pageShift, mm.AccessWrite, 1) }); err != nil {
			return err
		}
		return unmap(t, base, n)
	})
	if !started {
		return err
	}
	if err != nil {
		r.k.Shutdown() // the handler may wait for a message that will not come
		<-herr
		return err
	}
	return <-herr
}

// parallel is threads-N (procs false: threads of t's process) and
// procs-N (processes of t's kernel): each round, every task maps a chunk
// of its own, then all write theirs at once, a goroutine each (timed from
// the start of the first to the end of the last), then each unmaps.
func (r *modelRun) parallel(t *kernel.Task, ops uint64, n int, procs bool) error {
	tasks := []*kernel.Task{t}
	for i := 1; i < n; i++ {
		if procs {
			tasks = append(tasks, r.k.Spawn(fmt.Sprintf("p%d", i)))
			continue
		}
		c, out := t.Clone(fmt.Sprintf("t%d", i))
		if out.Kind != kernel.OutOK {
			return fmt.Errorf("model: clone: %v", out)
		}
		tasks = append(tasks, c)
	}
	left := make([]uint64, n)
	for i := range left {
		left[i] = ops / uint64(n)
		if uint64(i) < ops%uint64(n) {
			left[i]++
		}
	}
	bases := make([]uint64, n)
	sizes := make([]uint64, n)
	outs := make([]kernel.Outcome, n)
	for left[0] > 0 {
		for i, tk := range tasks {
			sizes[i] = min(left[i], ChunkPages)
			bases[i] = 0
			if sizes[i] == 0 {
				continue
			}
			b, err := mapAnon(tk, sizes[i])
			if err != nil {
				return err
			}
			bases[i] = b
		}
		var f0 uint64
		for _, tk := range tasks {
			f0 += faults(tk)
		}
		var wg sync.WaitGroup
		t0 := time.Now()
		for i, tk := range tasks {
			if sizes[i] == 0 {
				continue
			}
			wg.Go(func() { outs[i] = tk.Touch(bases[i], sizes[i]<<pageShift, mm.AccessWrite, 1) })
		}
		wg.Wait()
		r.s.Elapsed += time.Since(t0)
		for _, tk := range tasks {
			r.s.Faults += faults(tk)
		}
		r.s.Faults -= f0
		for i, tk := range tasks {
			if sizes[i] == 0 {
				continue
			}
			if outs[i].Kind != kernel.OutOK {
				return fmt.Errorf("model: thread %d: %v", i, outs[i])
			}
			if err := unmap(tk, bases[i], sizes[i]); err != nil {
				return err
			}
			left[i] -= sizes[i]
		}
	}
	return nil
}
