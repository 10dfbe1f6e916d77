package kernel_test

import (
	"testing"
	"time"

	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/vmfault"
)

// TestAnonPrepareRetry: a user write fault on a VMA without an anon_vma
// runs under the per-VMA lock; preparing one needs the mmap lock, which
// another task holds for writing, so handle_mm_fault drops the VMA lock
// and returns VM_FAULT_RETRY (vmf_anon_prepare), the generic handler
// waits for the mmap lock and retries, and the fault counts once, minor
// (no FAULT_FLAG_TRIED: the attempt did not wait for I/O). With the mmap
// lock free there is no retry.
func TestAnonPrepareRetry(t *testing.T) {
	for _, busy := range []bool{false, true} {
		k, task, audit := auditedMachine(t)
		obs := newObserver()
		k.SetObserver(obs)
		a := mmap(t, task, kernel.MmapArgs{Length: pg, Prot: rw})
		th, out := task.Clone("faulter")
		wantOK(t, "clone", out)
		m := task.MM()
		if busy && !m.MmapWriteTryLock() {
			t.Fatal("the mmap lock is held")
		}
		done := make(chan kernel.Outcome, 1)
		go func() { done <- th.Write(a, 1) }()
		if busy {
			obs.waitBlocked(t, th) // the retry waits for the mmap lock
			m.MmapWriteUnlock()
		}
		select {
		case out := <-done:
			wantOK(t, "the write", out)
		case <-time.After(hangGuard):
			t.Fatal("the write never finished")
		}
		unlocked(t, task)
		if got := audit.saw(vmfault.Retry); got != busy {
			t.Errorf("busy %v: a handle_mm_fault returned VM_FAULT_RETRY: %v (%v)", busy, got, audit.results)
		}
		if minor, major := th.Faults(); minor != 1 || major != 0 {
			t.Errorf("busy %v: minflt=%d majflt=%d, want one minor fault", busy, minor, major)
		}
		wantOK(t, "read back", th.Read(a))
	}
}
