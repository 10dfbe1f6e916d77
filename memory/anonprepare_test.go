package memory_test

import (
	"testing"

	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/vmfault"
)

// faultVMALocked resolves a fault at addr under the per-VMA lock alone,
// as the generic handler's first attempt does; busy holds the mmap lock
// for writing meanwhile, as another task changing the map would.
func (e *env) faultVMALocked(addr uint64, flags vmfault.Flags, busy bool) vmfault.Reason {
	e.t.Helper()
	v := e.m.LockVMAUnderRCU(addr)
	if v == nil {
		e.t.Fatalf("no VMA lock at %#x", addr)
	}
	if busy && !e.m.MmapWriteTryLock() {
		e.t.Fatal("the mmap lock is held")
	}
	ret := memory.HandleMMFault(v, addr, flags|vmfault.FlagVMALock, e.task)
	if ret&(vmfault.Retry|vmfault.Completed) == 0 {
		v.EndRead()
	}
	if busy {
		e.m.MmapWriteUnlock()
	}
	e.unlocked()
	return ret
}

// TestAnonPrepareUnderVMALock: a fault that holds only the VMA lock and
// must give the VMA its anon_vma takes the mmap lock for reading to do it;
// when another task has the lock it drops the VMA lock and returns
// VM_FAULT_RETRY without mapping or accounting anything (vmf_anon_prepare),
// and the retry under the mmap lock succeeds as a minor fault. A VMA that
// has its anon_vma needs no mmap lock.
func TestAnonPrepareUnderVMALock(t *testing.T) {
	tests := []struct {
		name string
		// setup maps the VMA at low and returns the faulting flags.
		setup func(e *env) vmfault.Flags
		// prepared: the VMA has its anon_vma before the fault.
		prepared bool
	}{
		{"anonymous write", func(e *env) vmfault.Flags {
			e.mapAt(low, 1, rw, 0, nil)
			return write
		}, false},
		{"write over the zero page", func(e *env) vmfault.Flags {
			e.mapAt(low, 1, rw, 0, nil)
			if ret := e.fault(low, read); ret != 0 {
				t.Fatalf("read fault: %v", ret)
			}
			return write
		}, false},
		{"private file write", func(e *env) vmfault.Flags {
			e.mapAt(low, 1, rw, 0, &scripted{alloc: e.alloc, results: []vmfault.Reason{0}})
			return write
		}, false},
		{"anonymous write, the anon_vma prepared", func(e *env) vmfault.Flags {
			e.mapAt(low, 2, rw, 0, nil)
			if ret := e.fault(low+pg, write); ret != 0 {
				t.Fatalf("write fault: %v", ret)
			}
			return write
		}, true},
	}
	for _, tc := range tests {
		for _, busy := range []bool{false, true} {
			name := tc.name
			if busy {
				name += ", mmap lock busy"
			}
			t.Run(name, func(t *testing.T) {
				e := newEnv(t, true)
				flags := tc.setup(e)
				minor, before := e.task.minor, e.pte(low)
				ret := e.faultVMALocked(low, flags, busy)
				retry := busy && !tc.prepared
				if got := ret&vmfault.Retry != 0; got != retry || ret&^vmfault.Retry != 0 {
					t.Fatalf("HandleMMFault = %v, want retry %v and nothing else", ret, retry)
				}
				v := e.m.LockVMAUnderRCU(low)
				hasAnon := v.HasAnonVMA()
				v.EndRead()
				if hasAnon == retry {
					t.Errorf("anon_vma prepared %v after the attempt, want %v", hasAnon, !retry)
				}
				if retry {
					if e.task.minor != minor || e.task.major != 0 {
						t.Errorf("a retried attempt was accounted: minor %d, major %d", e.task.minor-minor, e.task.major)
					}
					if got := e.pte(low); got != before {
						t.Errorf("the retried attempt changed the entry: %v, was %v", got, before)
					}
					// The generic handler retries under the mmap lock.
					if ret := e.fault(low, flags); ret != 0 {
						t.Fatalf("retry under the mmap lock: %v", ret)
					}
				}
				if e.task.minor != minor+1 || e.task.major != 0 {
					t.Errorf("accounted minor %d major %d, want one minor fault", e.task.minor-minor, e.task.major)
				}
				if p := e.page(low); p == nil || !p.Has(phys.FlagAnon) || !e.pte(low).Has(pgtable.Write) {
					t.Errorf("entry %v after the write, want a writable anonymous page", e.pte(low))
				}
			})
		}
	}
}
