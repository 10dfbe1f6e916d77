package kernel_test

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
)

// TestMadviseHWPoisonActionRequired: from 6.11 on, injecting an error in a
// page that is dirty once unmapped sends the caller SIGBUS BUS_MCEERR_AR at
// the page with its shift, at once; a clean page (dropped from the cache)
// sends nothing, and before 6.11 nothing does. A huge page is injected once,
// the walk stepping by its size, so a range over all of it succeeds.
func TestMadviseHWPoisonActionRequired(t *testing.T) {
	tests := []struct {
		name    string
		version string
		setup   func(t *testing.T, task *kernel.Task) (addr, length uint64)
		signal  bool  // SIGBUS BUS_MCEERR_AR @addr
		lsb     uint8 // its si_addr_lsb
	}{
		{"anon dirty 6.18", "6.18", dirtyAnon, true, 12},
		{"anon dirty 6.11", "6.11", dirtyAnon, true, 12},
		{"anon dirty 6.10", "6.10", dirtyAnon, false, 0},
		{"anon dirty 6.1", "6.1", dirtyAnon, false, 0},
		{"file clean 6.18", "6.18", cleanFile, false, 0},
		{"file dirty 6.18", "6.18", dirtyFile, true, 12},
		{"hugetlb whole 6.18", "6.18", dirtyHuge, true, 21},
		{"hugetlb whole 6.1", "6.1", dirtyHuge, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, task := machine(t, func(k *config.Kernel) {
				if err := k.Set("kernel", tc.version); err != nil {
					t.Fatal(err)
				}
			})
			addr, length := tc.setup(t, task)
			out := task.MadviseHWPoison(addr, length)
			if tc.signal {
				wantSignal(t, "madvise hwpoison", out, abi.SIGBUS, abi.BUS_MCEERR_AR, addr)
				if out.Info.LSB != tc.lsb {
					t.Fatalf("si_addr_lsb %d, want %d", out.Info.LSB, tc.lsb)
				}
			} else {
				wantOK(t, "madvise hwpoison", out)
			}
			wantAlive(t, task)
		})
	}
}

func dirtyAnon(t *testing.T, task *kernel.Task) (uint64, uint64) {
	a := mmap(t, task, kernel.MmapArgs{Length: pg, Prot: rw})
	wantOK(t, "write", task.Write(a, 1))
	return a, pg
}

func cleanFile(t *testing.T, task *kernel.Task) (uint64, uint64) {
	wantOK(t, "file", task.CreateFile("F", pg, 0x61))
	wantOK(t, "evict", task.Evict("F"))
	a := mmap(t, task, kernel.MmapArgs{Length: pg, Prot: ro, Shared: true, File: "F"})
	wantRead(t, task, a, 0x61)
	return a, pg
}

func dirtyFile(t *testing.T, task *kernel.Task) (uint64, uint64) {
	wantOK(t, "file", task.CreateFile("F", pg, 0x61)) // dirty in the cache, as write(2) leaves it
	a := mmap(t, task, kernel.MmapArgs{Length: pg, Prot: ro, Shared: true, File: "F"})
	wantRead(t, task, a, 0x61)
	return a, pg
}

func dirtyHuge(t *testing.T, task *kernel.Task) (uint64, uint64) {
	wantOK(t, "hugepages", task.Hugepages(1))
	h := mmap(t, task, kernel.MmapArgs{Length: huge, Prot: rw, Hugetlb: true})
	wantOK(t, "write", task.Write(h, 2))
	return h, huge
}

// TestMadviseHWPoisonTwice: injecting into a page already poisoned fails
// its lookup (get_user_pages_fast without FOLL_HWPOISON): EFAULT, and no
// second signal.
func TestMadviseHWPoisonTwice(t *testing.T) {
	for _, version := range []string{"6.1", "6.18"} {
		t.Run(version, func(t *testing.T) {
			_, task := machine(t, func(k *config.Kernel) { _ = k.Set("kernel", version) })
			a, n := dirtyAnon(t, task)
			task.MadviseHWPoison(a, n)
			wantErrno(t, "second madvise hwpoison", task.MadviseHWPoison(a, n), abi.EFAULT)
		})
	}
}
