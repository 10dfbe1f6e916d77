package kernel_test

import (
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch/x86"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/vmfault"
)

// lockAudit wraps handle_mm_fault and checks, around every call, that the
// fault lock was released exactly once when the result says the resolver
// released it (VM_FAULT_RETRY, VM_FAULT_COMPLETED), and not at all
// otherwise. It records every result.
type lockAudit struct {
	t       *testing.T
	mu      sync.Mutex
	results []vmfault.Reason
}

func (a *lockAudit) resolve(vma *mm.VMA, addr uint64, flags vmfault.Flags, t memory.Faulter) vmfault.Reason {
	m := vma.MM()
	r0, _, v0 := m.LockState()
	ret := memory.HandleMMFault(vma, addr, flags, t)
	r1, _, v1 := m.LockState()
	released := ret&(vmfault.Retry|vmfault.Completed) != 0
	held, after := r0, r1
	if flags&vmfault.FlagVMALock != 0 {
		held, after = int(v0), int(v1)
	}
	want := held
	if released {
		want = held - 1
	}
	if after != want {
		a.t.Errorf("handle_mm_fault returned %v under %v: the lock count went %d -> %d, want %d",
			ret, flags&vmfault.FlagVMALock, held, after, want)
	}
	a.mu.Lock()
	a.results = append(a.results, ret)
	a.mu.Unlock()
	return ret
}

// saw reports whether a result with all of bits was recorded.
func (a *lockAudit) saw(bits vmfault.Reason) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.results {
		if r&bits == bits {
			return true
		}
	}
	return false
}

// auditedMachine is an x86_64 machine whose generic handler resolves
// faults through a lockAudit.
func auditedMachine(t *testing.T, opts ...func(*config.Kernel)) (*kernel.Kernel, *kernel.Task, *lockAudit) {
	t.Helper()
	cfg := config.Default()
	for _, o := range opts {
		o(&cfg)
	}
	arch := x86.New(cfg)
	audit := &lockAudit{t: t}
	arch.Handler().Resolve = audit.resolve
	k := kernel.New(cfg, arch)
	t.Cleanup(k.Shutdown)
	return k, k.Spawn("t"), audit
}

// unlocked fails unless the task's address space holds no lock.
func unlocked(t *testing.T, task *kernel.Task) {
	t.Helper()
	if r, w, v := task.MM().LockState(); r != 0 || w || v != 0 {
		t.Fatalf("locks held: %d readers, writer %v, %d VMA readers", r, w, v)
	}
}

// TestRetrySourcesReleaseTheLockOnce runs each source of VM_FAULT_RETRY
// and VM_FAULT_COMPLETED in the model, under the per-VMA lock (user
// faults) and under the mmap lock (kernel faults), and checks the lock
// accounting around every handle_mm_fault and after the fault.
func TestRetrySourcesReleaseTheLockOnce(t *testing.T) {
	type source struct {
		name string
		want vmfault.Reason // a result the fault must go through
		run  func(t *testing.T, k *kernel.Kernel, task *kernel.Task, kernelMode bool)
	}
	access := func(t *testing.T, task *kernel.Task, kernelMode bool, addr uint64) {
		t.Helper()
		var out kernel.Outcome
		if kernelMode {
			out = task.KWrite(addr, 16) // copy_from_user: a read fault
		} else {
			out = task.Read(addr)
		}
		wantOK(t, "the access", out)
	}
	sources := []source{
		{"page-cache I/O", vmfault.Retry | vmfault.Major, func(t *testing.T, k *kernel.Kernel, task *kernel.Task, km bool) {
			wantOK(t, "file", task.CreateFile("F", 4*pg, 0x61))
			wantOK(t, "evict", task.Evict("F"))
			a := mmap(t, task, kernel.MmapArgs{Length: 4 * pg, Prot: ro, Shared: true, File: "F"})
			access(t, task, km, a)
		}},
		{"dirtying a shared file page", vmfault.Completed, func(t *testing.T, k *kernel.Kernel, task *kernel.Task, km bool) {
			wantOK(t, "file", task.CreateFile("F", pg, 0x61))
			wantOK(t, "evict", task.Evict("F")) // written back: the page will be clean
			a := mmap(t, task, kernel.MmapArgs{Length: pg, Prot: rw, Shared: true, File: "F"})
			// Read it in first: mapped clean and write-protected, the first
			// write is a first attempt, which drops the lock to throttle.
			wantOK(t, "read", task.Read(a))
			if km {
				wantOK(t, "kread", task.KRead(a, 16, 1)) // copy_to_user: a write fault
			} else {
				wantOK(t, "write", task.Write(a, 1))
			}
		}},
		{"swap-in", vmfault.Retry | vmfault.Major, func(t *testing.T, k *kernel.Kernel, task *kernel.Task, km bool) {
			wantOK(t, "memlimit", task.Memlimit(64*pg))
			a := mmap(t, task, kernel.MmapArgs{Length: 128 * pg, Prot: rw})
			wantOK(t, "write", task.Write(a, 0x11))
			wantOK(t, "touch", task.Touch(a+pg, 127*pg, mm.AccessWrite, 1)) // pushes a out to swap
			access(t, task, km, a)
		}},
		{"userfaultfd", vmfault.Retry, func(t *testing.T, k *kernel.Kernel, task *kernel.Task, km bool) {
			obs := newObserver()
			k.SetObserver(obs)
			a := mmap(t, task, kernel.MmapArgs{Length: pg, Prot: rw})
			wantOK(t, "register", task.UffdRegister("U", a, pg, memory.UffdMissing, false))
			th, out := task.Clone("faulter")
			wantOK(t, "clone", out)
			done := make(chan kernel.Outcome, 1)
			go func() {
				if km {
					done <- th.KWrite(a, 16)
				} else {
					done <- th.Read(a)
				}
			}()
			obs.waitBlocked(t, th)
			if ev := task.UffdEvent("U"); ev.Kind != kernel.OutFault || ev.Msg.Addr != a {
				t.Fatalf("event: %v", ev)
			}
			wantOK(t, "copy", task.UffdFill("U", a, pg, memory.FillCopy, 7))
			select {
			case out := <-done:
				wantOK(t, "the blocked access", out)
			case <-time.After(hangGuard):
				t.Fatal("the faulting thread was never woken")
			}
		}},
	}
	for _, src := range sources {
		for _, km := range []bool{false, true} {
			mode := "user"
			if km {
				mode = "kernel"
			}
			t.Run(src.name+"/"+mode, func(t *testing.T) {
				k, task, audit := auditedMachine(t, func(c *config.Kernel) { c.Swap = 1 << 20 })
				src.run(t, k, task, km)
				unlocked(t, task)
				if !audit.saw(src.want) {
					t.Errorf("no fault went through %v: %v", src.want, audit.results)
				}
			})
		}
	}
}

// TestRetryAfterMunmapIsBadArea: a fault that dropped the lock to wait for
// I/O finds, on its retry, that the VMA is gone: SIGSEGV SEGV_MAPERR, and
// the kernel-mode copy gets EFAULT.
func TestRetryAfterMunmapIsBadArea(t *testing.T) {
	for _, km := range []bool{false, true} {
		k, task, audit := auditedMachine(t)
		obs := newObserver()
		k.SetObserver(obs)
		wantOK(t, "file", task.CreateFile("F", pg, 0x61))
		wantOK(t, "evict", task.Evict("F"))
		a := mmap(t, task, kernel.MmapArgs{Length: pg, Prot: ro, Shared: true, File: "F"})
		wantOK(t, "hold", task.HoldIO("F", true))
		th, out := task.Clone("faulter")
		wantOK(t, "clone", out)
		done := make(chan kernel.Outcome, 1)
		go func() {
			if km {
				done <- th.KWrite(a, 16)
			} else {
				done <- th.Read(a)
			}
		}()
		obs.waitBlocked(t, th)
		unlocked(t, task) // the waiting fault holds no lock
		wantOK(t, "munmap", task.Munmap(a, pg))
		wantOK(t, "release", task.HoldIO("F", false))
		select {
		case out := <-done:
			if km {
				wantErrno(t, "the kernel copy", out, abi.EFAULT)
			} else {
				wantSignal(t, "the access", out, abi.SIGSEGV, abi.SEGV_MAPERR, a)
			}
		case <-time.After(hangGuard):
			t.Fatal("the waiting fault never finished")
		}
		unlocked(t, task)
		if !audit.saw(vmfault.Retry | vmfault.Major) {
			t.Errorf("the fault never waited for I/O: %v", audit.results)
		}
	}
}

// TestInterruptedFaultLeavesNoState: a user fault waiting on userfaultfd,
// interrupted by a caught signal, leaves no page, no queued message and no
// lock behind; the handler runs, and the access faults again.
func TestInterruptedFaultLeavesNoState(t *testing.T) {
	k, task, _ := auditedMachine(t)
	obs := newObserver()
	k.SetObserver(obs)
	a := mmap(t, task, kernel.MmapArgs{Length: pg, Prot: rw})
	wantOK(t, "sigaction", task.Sigaction(abi.SIGUSR1, kernel.SigCatch))
	wantOK(t, "register", task.UffdRegister("U", a, pg, memory.UffdMissing, false))
	th, out := task.Clone("faulter")
	wantOK(t, "clone", out)
	done := make(chan kernel.Outcome, 1)
	go func() { done <- th.Read(a) }()
	obs.waitBlocked(t, th)
	wantOK(t, "kill", task.Kill(th, abi.SIGUSR1))
	obs.waitBlocked(t, th) // the handler ran and the access faulted again
	if n := th.Caught(abi.SIGUSR1); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
	unlocked(t, task)
	if rss := task.MM().RSS(); rss != 0 {
		t.Fatalf("%d pages mapped, want none", rss)
	}
	// Exactly one message: the interrupted fault's went with it; the new
	// fault queued its own.
	ev := task.UffdEvent("U")
	if ev.Kind != kernel.OutFault || ev.Msg.Addr != a {
		t.Fatalf("event: %v", ev)
	}
	wantOK(t, "copy", task.UffdFill("U", a, pg, memory.FillCopy, 9))
	select {
	case out := <-done:
		if out.Kind != kernel.OutOK || out.Value != 9 {
			t.Fatalf("the access: %v, want ok 9", out)
		}
	case <-time.After(hangGuard):
		t.Fatal("never woken")
	}
	unlocked(t, task)
}
