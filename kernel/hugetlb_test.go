package kernel_test

import (
	"fmt"
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
)

const huge = uint64((2 << 20))

// hugeMachine returns a machine whose pool holds n huge pages.
func hugeMachine(t *testing.T, n uint64) (*kernel.Kernel, *kernel.Task) {
	t.Helper()
	k, task := machine(t)
	wantOK(t, "hugepages", task.Hugepages(n))
	return k, task
}

func wantRead(t *testing.T, task *kernel.Task, addr uint64, v byte) {
	t.Helper()
	out := task.Read(addr)
	if out.Kind != kernel.OutOK || out.Value != uint64(v) {
		t.Fatalf("read %#x = %v, want %d", addr, out, v)
	}
}

func wantResv(t *testing.T, k *kernel.Kernel, n int) {
	t.Helper()
	if got := k.HugePool().Reserved(); got != n {
		t.Fatalf("%d huge pages reserved, want %d", got, n)
	}
}

// TestMmapTHPAligned: anonymous private memory whose length is a multiple
// of 2 MiB is placed on a 2 MiB boundary (thp_get_unmapped_area), even
// when the free range above it is not; other lengths and shared memory
// are placed a page below what is mapped.
func TestMmapTHPAligned(t *testing.T) {
	tests := []struct {
		name    string
		args    kernel.MmapArgs
		aligned bool
	}{
		{"2M", kernel.MmapArgs{Length: huge, Prot: rw}, true},
		{"6M", kernel.MmapArgs{Length: 3 * huge, Prot: rw}, true},
		{"growsdown 2M", kernel.MmapArgs{Length: huge, Prot: rw, GrowsDown: true}, true},
		{"2M plus a page", kernel.MmapArgs{Length: huge + pg, Prot: rw}, false},
		{"shared 2M", kernel.MmapArgs{Length: huge, Prot: rw, Shared: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, task := machine(t)
			low := mmap(t, task, kernel.MmapArgs{Length: pg, Prot: rw}) // leaves the top unaligned
			if low%huge == 0 {
				t.Fatalf("the first page is at %#x, 2 MiB-aligned: the test needs it not to be", low)
			}
			got := mmap(t, task, tc.args)
			end := got + (tc.args.Length+pg-1)&^(pg-1)
			if end > low {
				t.Fatalf("mapped [%#x, %#x) over the page at %#x", got, end, low)
			}
			if tc.aligned && got%huge != 0 {
				t.Errorf("mapped at %#x, want 2 MiB-aligned", got)
			}
			if !tc.aligned && end != low {
				t.Errorf("mapped at %#x, want just below %#x", got, low)
			}
		})
	}
}

// TestHugetlbMmapChecksBeforeReserve: a hugetlb mmap that fails an
// address check fails with that error even when the pool could not
// reserve its pages, and leaves nothing reserved (hugetlbfs_file_mmap
// reserves only once the address is settled).
func TestHugetlbMmapChecksBeforeReserve(t *testing.T) {
	const at = 64 * huge // room for an aligned fixed mapping
	tests := []struct {
		name string
		args kernel.MmapArgs
		err  abi.Errno
	}{
		{"misaligned", kernel.MmapArgs{Addr: at + pg, Fixed: true}, abi.EINVAL},
		{"misaligned shared", kernel.MmapArgs{Addr: at + pg, Fixed: true, Shared: true}, abi.EINVAL},
		{"noreplace", kernel.MmapArgs{Addr: at, Fixed: true}, abi.EEXIST},
		{"noreplace shared", kernel.MmapArgs{Addr: at, Fixed: true, Shared: true}, abi.EEXIST},
		{"beyond the top", kernel.MmapArgs{Addr: 0x7fffffe00000, Fixed: true}, abi.ENOMEM},
		{"growsdown", kernel.MmapArgs{GrowsDown: true}, abi.EINVAL},
	}
	for _, tc := range tests {
		for _, pool := range []uint64{0, 1} {
			t.Run(fmt.Sprintf("%s/pool=%d", tc.name, pool), func(t *testing.T) {
				k, task := hugeMachine(t, pool)
				mmap(t, task, kernel.MmapArgs{Addr: at, Length: huge, Prot: rw, Fixed: true})
				a := tc.args
				a.Length, a.Prot, a.Hugetlb = huge, rw, true
				wantErrno(t, "mmap", task.Mmap(a), tc.err)
				wantResv(t, k, 0)
				if pool == 1 {
					mmap(t, task, kernel.MmapArgs{Length: huge, Prot: rw, Hugetlb: true})
				}
			})
		}
	}
}

// TestHugetlbDontneedRoundsDown: MADV_DONTNEED on hugetlb drops only the
// whole huge pages of the range, and a range shorter than one is a
// successful no-op (madvise_dontneed_free_valid_vma).
func TestHugetlbDontneedRoundsDown(t *testing.T) {
	_, task := hugeMachine(t, 2)
	h := mmap(t, task, kernel.MmapArgs{Length: 2 * huge, Prot: rw, Hugetlb: true})
	wantOK(t, "write", task.Write(h, 1))
	wantOK(t, "write", task.Write(h+huge, 2))
	wantOK(t, "madvise 1p", task.Madvise(h, pg, kernel.MadvDontneed))
	wantRead(t, task, h, 1)
	wantOK(t, "madvise 3M", task.Madvise(h, huge+huge/2, kernel.MadvDontneed))
	wantRead(t, task, h, 0)
	wantRead(t, task, h+huge, 2)
	wantErrno(t, "madvise misaligned", task.Madvise(h+pg, huge, kernel.MadvDontneed), abi.EINVAL)
}

// TestHugetlbUnmapPartReturnsReservation: unmapping part of a private
// hugetlb mapping gives back that part's unused reservation
// (hugetlb_vm_op_close, per VMA); a shared mapping's reservation belongs
// to its file and stays.
func TestHugetlbUnmapPartReturnsReservation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		shared  bool
		protect bool // split by mprotect before the munmap
		back    bool // and protected back: the halves do not merge
		want    int
	}{
		{"private", false, false, false, 1},
		{"private split by mprotect", false, true, false, 1},
		{"private protected back", false, true, true, 1},
		{"shared", true, false, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, task := hugeMachine(t, 2)
			h := mmap(t, task, kernel.MmapArgs{Length: 2 * huge, Prot: rw, Hugetlb: true, Shared: tc.shared})
			wantResv(t, k, 2)
			at := h + huge
			if tc.protect {
				wantOK(t, "mprotect", task.Mprotect(h, huge, ro))
				at = h
			}
			if tc.back {
				wantOK(t, "mprotect back", task.Mprotect(h, huge, rw))
			}
			wantOK(t, "munmap", task.Munmap(at, huge))
			wantResv(t, k, tc.want)
			wantOK(t, "munmap rest", task.Munmap(h, 2*huge))
			wantResv(t, k, 0)
		})
	}
}

// TestHugetlbDontneedRestoresReservation: MADV_DONTNEED of a page a
// reserving private mapping faulted in gives the mapping its reservation
// back, so that a MAP_NORESERVE mapping cannot take the freed page
// (hugetlb_restore_reserve).
func TestHugetlbDontneedRestoresReservation(t *testing.T) {
	k, task := hugeMachine(t, 1)
	h := mmap(t, task, kernel.MmapArgs{Length: huge, Prot: rw, Hugetlb: true})
	wantOK(t, "write", task.Write(h, 7))
	wantResv(t, k, 0)
	wantOK(t, "madvise", task.Madvise(h, huge, kernel.MadvDontneed))
	wantResv(t, k, 1)
	c, out := task.Fork("c")
	wantOK(t, "fork", out)
	n := mmap(t, c, kernel.MmapArgs{Length: huge, Prot: rw, Hugetlb: true, NoReserve: true})
	wantSignal(t, "noreserve write", c.Write(n, 1), abi.SIGBUS, abi.BUS_ADRERR, n)
	wantRead(t, task, h, 0)
	wantResv(t, k, 0)
}

// TestHugetlbNoreserveIsNotOwner: a MAP_NORESERVE private mapping owns no
// reservation, so after fork its copy-on-write with an empty pool is
// SIGBUS for the writer and leaves the child's page alone.
func TestHugetlbNoreserveIsNotOwner(t *testing.T) {
	_, task := hugeMachine(t, 1)
	h := mmap(t, task, kernel.MmapArgs{Length: huge, Prot: rw, Hugetlb: true, NoReserve: true})
	wantOK(t, "write", task.Write(h, 1))
	c, out := task.Fork("c")
	wantOK(t, "fork", out)
	wantSignal(t, "parent write", task.Write(h, 2), abi.SIGBUS, abi.BUS_ADRERR, h)
	wantRead(t, c, h, 1)
}

// TestHugetlbLockedIsNotLocked: MAP_LOCKED populates a hugetlb mapping but
// does not lock it (mmap_region clears VM_LOCKED), so MADV_DONTNEED
// works.
func TestHugetlbLockedIsNotLocked(t *testing.T) {
	k, task := hugeMachine(t, 1)
	h := mmap(t, task, kernel.MmapArgs{Length: huge, Prot: rw, Hugetlb: true, Locked: true})
	if v := task.MM().VMALookup(h); v == nil || v.Flags&mm.VMLocked != 0 {
		t.Fatalf("VMA %v, want one not locked", v)
	}
	if k.HugePool().Free() != 0 {
		t.Fatal("MAP_LOCKED did not populate the mapping")
	}
	wantOK(t, "madvise", task.Madvise(h, huge, kernel.MadvDontneed))
	if k.HugePool().Free() != 1 {
		t.Fatal("MADV_DONTNEED kept the page")
	}
}

// TestHugePoolShrinkToSurplus: shrinking the pool below its reserved or
// used pages makes them surplus, which leave the pool when they are freed
// or unreserved (set_max_huge_pages, free_huge_folio,
// return_unused_surplus_pages); growing it again makes them persistent.
func TestHugePoolShrinkToSurplus(t *testing.T) {
	for _, tc := range []struct {
		name        string
		fault, grow bool
	}{
		{"reserved", false, false},
		{"in use", true, false},
		{"grown back", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, task := hugeMachine(t, 1)
			pool := k.HugePool()
			h := mmap(t, task, kernel.MmapArgs{Length: huge, Prot: rw, Hugetlb: true})
			wantOK(t, "hugepages 0", task.Hugepages(0))
			if pool.Surplus() != 1 || pool.Free() != 1 {
				t.Fatalf("surplus %d, free %d, want 1, 1", pool.Surplus(), pool.Free())
			}
			if tc.fault {
				wantOK(t, "write", task.Write(h, 1))
			}
			if tc.grow {
				wantOK(t, "hugepages 1", task.Hugepages(1))
				if pool.Surplus() != 0 {
					t.Fatalf("surplus %d after growing, want 0", pool.Surplus())
				}
			}
			wantOK(t, "munmap", task.Munmap(h, huge))
			want := 0
			if tc.grow {
				want = 1
			}
			if pool.Free() != want || pool.Surplus() != 0 {
				t.Fatalf("free %d, surplus %d after munmap, want %d, 0", pool.Free(), pool.Surplus(), want)
			}
		})
	}
}
