package kernel_test

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
)

const base = uint64(0x10000000)

// fixed maps n pages at addr.
func fixed(t *testing.T, task *kernel.Task, addr uint64, n int, prot mm.Prot) {
	t.Helper()
	if got := mmap(t, task, kernel.MmapArgs{Addr: addr, Length: uint64(n) * pg, Prot: prot, Fixed: true}); got != addr {
		t.Fatalf("mmap at %#x returned %#x", addr, got)
	}
}

// TestUaccess checks read(2) and write(2) against bad user buffers, with
// the results the host kernel gave for a regular file (host observations
// §7, uaccess group).
func TestUaccess(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, task *kernel.Task)
		write bool // KWrite (from user memory), else KRead (into it)
		addr  uint64
		size  uint64
		want  uint64    // bytes, when err is 0
		err   abi.Errno // EFAULT
	}{
		{"read into populated memory", func(t *testing.T, k *kernel.Task) {
			fixed(t, k, base, 2, rw)
			wantOK(t, "touch", k.Touch(base, 2*pg, mm.AccessWrite, 1))
		}, false, base, 2 * pg, 2 * pg, 0},
		{"read into unpopulated anon memory", func(t *testing.T, k *kernel.Task) { fixed(t, k, base, 4, rw) }, false, base, 4 * pg, 4 * pg, 0},
		{"write from unpopulated anon memory", func(t *testing.T, k *kernel.Task) { fixed(t, k, base, 4, rw) }, true, base, 4 * pg, 4 * pg, 0},
		{"read straddling an unmapped page", func(t *testing.T, k *kernel.Task) { fixed(t, k, base, 1, rw) }, false, base + pg - 100, 200, 100, 0},
		{"write straddling an unmapped page", func(t *testing.T, k *kernel.Task) { fixed(t, k, base, 1, rw) }, true, base + pg - 100, 200, 100, 0},
		{"read starting in an unmapped page", func(t *testing.T, k *kernel.Task) { fixed(t, k, base, 1, rw) }, false, base + pg, 10, 0, abi.EFAULT},
		{"read into PROT_READ", func(t *testing.T, k *kernel.Task) { fixed(t, k, base, 1, ro) }, false, base, 16, 0, abi.EFAULT},
		{"write from PROT_READ", func(t *testing.T, k *kernel.Task) { fixed(t, k, base, 1, ro) }, true, base, 16, 16, 0},
		{"write from PROT_NONE", func(t *testing.T, k *kernel.Task) { fixed(t, k, base, 1, mm.ProtNone) }, true, base, 16, 0, abi.EFAULT},
		{"write from exec-only", func(t *testing.T, k *kernel.Task) { fixed(t, k, base, 1, mm.ProtExec) }, true, base, 16, 16, 0},
		{"write from write-only", func(t *testing.T, k *kernel.Task) { fixed(t, k, base, 1, mm.ProtWrite) }, true, base, 16, 16, 0},
		{"read into write-only", func(t *testing.T, k *kernel.Task) { fixed(t, k, base, 1, mm.ProtWrite) }, false, base, 16, 16, 0},
		{"read rw then PROT_NONE, page-aligned", func(t *testing.T, k *kernel.Task) {
			fixed(t, k, base, 1, rw)
			fixed(t, k, base+pg, 1, mm.ProtNone)
		}, false, base, 2 * pg, pg, 0},
		{"read rw then PROT_NONE, unaligned", func(t *testing.T, k *kernel.Task) {
			fixed(t, k, base, 1, rw)
			fixed(t, k, base+pg, 1, mm.ProtNone)
		}, false, base + pg - 100, pg, 100, 0},
		{"read into NULL", nil, false, 0, 16, 0, abi.EFAULT},
		{"read into a kernel address", nil, false, 0xffffffff81000000, 16, 0, abi.EFAULT},
		{"read into a non-canonical address", nil, false, 0x8000000000000000, 16, 0, abi.EFAULT},
		{"read into the vsyscall page", nil, false, 0xffffffffff600000, 16, 0, abi.EFAULT},
		{"write from the vsyscall page", nil, true, 0xffffffffff600000, 16, 0, abi.EFAULT},
		{"read ending past TASK_SIZE_MAX", func(t *testing.T, k *kernel.Task) { fixed(t, k, 1<<47-2*pg, 1, rw) }, false, 1<<47 - 2*pg, 2 * pg, 0, abi.EFAULT},
		{"read into a guard page", func(t *testing.T, k *kernel.Task) {
			fixed(t, k, base, 3, rw)
			wantOK(t, "guard", k.Madvise(base+pg, pg, kernel.MadvGuardInstall))
		}, false, base + pg, 16, 0, abi.EFAULT},
		{"write from a guard page", func(t *testing.T, k *kernel.Task) {
			fixed(t, k, base, 3, rw)
			wantOK(t, "guard", k.Madvise(base+pg, pg, kernel.MadvGuardInstall))
		}, true, base + pg, 16, 0, abi.EFAULT},
		{"write across a guard page", func(t *testing.T, k *kernel.Task) {
			fixed(t, k, base, 3, rw)
			wantOK(t, "guard", k.Madvise(base+pg, pg, kernel.MadvGuardInstall))
		}, true, base, 2 * pg, pg, 0},
		{"read into a poisoned page", func(t *testing.T, k *kernel.Task) {
			fixed(t, k, base, 1, rw)
			poison(k, base)
		}, false, base, 16, 0, abi.EFAULT},
		{"write from a poisoned page", func(t *testing.T, k *kernel.Task) {
			fixed(t, k, base, 1, rw)
			poison(k, base)
		}, true, base, 16, 0, abi.EFAULT},
		{"read just below a growsdown mapping grows it", func(t *testing.T, k *kernel.Task) {
			mmap(t, k, kernel.MmapArgs{Addr: base, Length: 4 * pg, Prot: rw, Fixed: true, GrowsDown: true})
		}, false, base - 16, 16, 16, 0},
		{"read inside the guard gap of a growsdown mapping", func(t *testing.T, k *kernel.Task) {
			mmap(t, k, kernel.MmapArgs{Addr: base, Length: 4 * pg, Prot: rw, Fixed: true, GrowsDown: true})
			fixed(t, k, base-300*pg, 100, rw) // ends 200 pages below: inside the 256-page gap
		}, false, base - 16, 16, 0, abi.EFAULT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, task := machine(t)
			if tc.setup != nil {
				tc.setup(t, task)
			}
			var out kernel.Outcome
			if tc.write {
				out = task.KWrite(tc.addr, tc.size)
			} else {
				out = task.KRead(tc.addr, tc.size, 0x5a)
			}
			if tc.err != 0 {
				wantErrno(t, "syscall", out, tc.err)
			} else if out.Kind != kernel.OutOK || !out.HasValue || out.Value != tc.want {
				t.Fatalf("syscall = %v, want %d bytes", out, tc.want)
			}
			wantAlive(t, task)
			if task.SignalPending() || task.Caught(abi.SIGSEGV) != 0 || task.Caught(abi.SIGBUS) != 0 {
				t.Errorf("a kernel-mode fault left a signal: pending %v, SIGSEGV %d, SIGBUS %d", task.SignalPending(), task.Caught(abi.SIGSEGV), task.Caught(abi.SIGBUS))
			}
			if !tc.write && tc.err == 0 {
				// The copied bytes landed; the byte after them did not.
				if out := task.Read(tc.addr + tc.want - 1); out.Kind != kernel.OutOK || out.Value != 0x5a {
					t.Errorf("last copied byte reads %v, want 0x5a", out)
				}
			}
		})
	}
}

// poison puts a poison marker at addr, as UFFDIO_POISON does.
func poison(task *kernel.Task, addr uint64) {
	tab, i := task.MM().PT.Alloc(addr)
	tab.Lock()
	tab.Store(i, pgtable.MkMarker(pgtable.MarkerPoisoned))
	tab.Unlock()
}

// TestUaccessPopulates: a kernel copy faults pages in on the way; every
// page of the buffer is present afterwards.
func TestUaccessPopulates(t *testing.T) {
	_, task := machine(t)
	fixed(t, task, base, 4, rw)
	if out := task.KRead(base, 4*pg, 1); out.Value != 4*pg {
		t.Fatalf("read = %v", out)
	}
	for a := base; a < base+4*pg; a += pg {
		tab, i := task.MM().PT.Lookup(a)
		if tab == nil || !tab.Load(i).Present() || !tab.Load(i).Has(pgtable.Write) {
			t.Errorf("%#x not present and writable after the copy", a)
		}
	}
}

// TestUaccessCOW: a copy into memory shared with a fork child breaks COW
// and leaves the child's view alone.
func TestUaccessCOW(t *testing.T) {
	_, parent := machine(t)
	fixed(t, parent, base, 1, rw)
	wantOK(t, "write", parent.Write(base, 0x61))
	child, out := parent.Fork("child")
	wantOK(t, "fork", out)
	if out := parent.KRead(base, 1, 0x73); out.Value != 1 {
		t.Fatalf("read = %v", out)
	}
	if out := child.Read(base); out.Value != 0x61 {
		t.Errorf("child sees %v, want 0x61", out)
	}
	if out := parent.Read(base); out.Value != 0x73 {
		t.Errorf("parent sees %v, want 0x73", out)
	}
}
