package memory_test

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/vmfault"
)

func wantErr(t *testing.T, what string, got, want abi.Errno) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// registered maps n private anonymous pages at low and registers them
// with a new context for modes.
func (e *env) registered(n int, modes int) *memory.Userfaultfd {
	e.t.Helper()
	e.mapAt(low, n, rw, 0, nil)
	u := memory.NewUserfaultfd("U", 0)
	if err := u.Register(e.task, e.m, low, uint64(n)*pg, modes); err != 0 {
		e.t.Fatalf("Register: %v", err)
	}
	return u
}

// TestUffdValidateRange: every ioctl takes a page-aligned, non-empty range
// inside the task size, and does not round a partial page up
// (validate_range), unlike madvise.
func TestUffdValidateRange(t *testing.T) {
	tests := []struct {
		name          string
		start, length uint64
	}{
		{"partial page", low, 100},
		{"page and a bit", low, pg + 1},
		{"unaligned start", low + 8, pg},
		{"empty", low, 0},
		{"below mmap_min_addr", 0, pg},
		{"beyond the task size", 1 << 47, pg},
		{"wraps", low, ^uint64(0) &^ (pg - 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true)
			u := e.registered(2, memory.UffdMissing|memory.UffdWP)
			wantErr(t, "Register", u.Register(e.task, e.m, tc.start, tc.length, memory.UffdMissing), abi.EINVAL)
			_, err := u.Fill(e.task, e.m, tc.start, tc.length, memory.FillCopy, 1)
			wantErr(t, "Fill", err, abi.EINVAL)
			wantErr(t, "WriteProtect", u.WriteProtect(e.task, e.m, tc.start, tc.length, true), abi.EINVAL)
			wantErr(t, "WakeRange", u.WakeRange(e.m, tc.start, tc.length), abi.EINVAL)
			wantErr(t, "Unregister", u.Unregister(e.task, e.m, tc.start, tc.length), abi.EINVAL)
			if !e.pte(low).None() || e.m.VMALookup(low).Uffd == nil {
				t.Errorf("a refused ioctl changed something: entry %v, context %v", e.pte(low), e.m.VMALookup(low).Uffd)
			}
		})
	}
}

// TestUffdFillDestination: the range of a fill must lie in one VMA that
// has a userfaultfd context, any context (find_dst_vma).
func TestUffdFillDestination(t *testing.T) {
	t.Run("two VMAs", func(t *testing.T) {
		e := newEnv(t, true)
		u := e.registered(2, memory.UffdMissing)
		wantErr(t, "Mprotect", e.m.Mprotect(ns, low+pg, pg, ro), 0)
		n, err := u.Fill(e.task, e.m, low, 2*pg, memory.FillCopy, 7)
		if n != 0 || err != abi.ENOENT || !e.pte(low).None() {
			t.Errorf("Fill = %d, %v, entry %v; want 0, ENOENT, nothing filled", n, err, e.pte(low))
		}
	})
	t.Run("another context's VMA", func(t *testing.T) {
		e := newEnv(t, true)
		u := e.registered(1, memory.UffdMissing)
		v := memory.NewUserfaultfd("V", 0)
		e.mapAt(low+4*pg, 1, rw, 0, nil)
		wantErr(t, "Register V", v.Register(e.task, e.m, low+4*pg, pg, memory.UffdMissing), 0)
		if n, err := v.Fill(e.task, e.m, low, pg, memory.FillCopy, 9); n != pg || err != 0 {
			t.Fatalf("Fill through V = %d, %v, want a page", n, err)
		}
		if p := e.page(low); p == nil || p.Data()[0] != 9 {
			t.Errorf("entry %v after the copy", e.pte(low))
		}
		wantErr(t, "Unregister through V", v.Unregister(e.task, e.m, low, pg), abi.EINVAL)
		if e.m.VMALookup(low).Uffd != mm.UserfaultCtx(u) {
			t.Error("the refused unregister changed the registration")
		}
	})
	t.Run("unregistered", func(t *testing.T) {
		e := newEnv(t, true)
		u := e.registered(1, memory.UffdMissing)
		e.mapAt(low+4*pg, 1, rw, 0, nil)
		_, err := u.Fill(e.task, e.m, low+4*pg, pg, memory.FillCopy, 1)
		wantErr(t, "Fill", err, abi.ENOENT)
	})
}

// TestUffdRegisterSubset: registering again with the same context for a
// subset of the modes keeps the VMA's modes; modes it lacks replace them.
func TestUffdRegisterSubset(t *testing.T) {
	e := newEnv(t, true)
	u := e.registered(1, memory.UffdMissing|memory.UffdWP)
	wantErr(t, "Register missing", u.Register(e.task, e.m, low, pg, memory.UffdMissing), 0)
	if f := e.m.VMALookup(low).Flags; f&mm.VMUffdWP == 0 || f&mm.VMUffdMiss == 0 {
		t.Errorf("flags after a subset %v, want missing and wp", f)
	}
	wantErr(t, "WriteProtect", u.WriteProtect(e.task, e.m, low, pg, true), 0)

	e = newEnv(t, true)
	u = e.registered(1, memory.UffdMissing)
	wantErr(t, "Register wp", u.Register(e.task, e.m, low, pg, memory.UffdWP), 0)
	if f := e.m.VMALookup(low).Flags; f&mm.VMUffdWP == 0 || f&mm.VMUffdMiss != 0 {
		t.Errorf("flags after wp over missing %v, want wp alone", f)
	}
}

// TestUffdWriteProtectHoles: holes are skipped; only no VMA at all or a
// VMA not registered for write-protect faults is ENOENT.
func TestUffdWriteProtectHoles(t *testing.T) {
	e := newEnv(t, true)
	e.mapAt(low, 3, rw, 0, nil)
	e.fault(low, write)
	e.fault(low+2*pg, write)
	wantErr(t, "Munmap", e.m.Munmap(ns, low+pg, pg), 0)
	u := memory.NewUserfaultfd("U", 0)
	wantErr(t, "Register", u.Register(e.task, e.m, low, 3*pg, memory.UffdWP), 0)
	wantErr(t, "WriteProtect over a hole", u.WriteProtect(e.task, e.m, low, 3*pg, true), 0)
	for _, a := range []uint64{low, low + 2*pg} {
		if p := e.pte(a); !p.Has(pgtable.UffdWP) || p.Has(pgtable.Write) {
			t.Errorf("entry at %#x = %v, want write-protected", a, p)
		}
	}
	wantErr(t, "WriteProtect of a hole", u.WriteProtect(e.task, e.m, low+pg, pg, true), abi.ENOENT)
	e.mapAt(low+8*pg, 1, rw, 0, nil)
	wantErr(t, "WriteProtect unregistered", u.WriteProtect(e.task, e.m, low, 9*pg, false), abi.ENOENT)
}

// TestUffdShmemZeropage: ZEROPAGE on shmem puts a zeroed page in the
// object's cache and maps it.
func TestUffdShmemZeropage(t *testing.T) {
	e := newEnv(t, true)
	shm := memory.NewShmem(e.alloc, pg)
	e.mapAt(low, 1, rw, mm.MapShared, shm)
	u := memory.NewUserfaultfd("U", 0)
	wantErr(t, "Register", u.Register(e.task, e.m, low, pg, memory.UffdMissing), 0)
	if n, err := u.Fill(e.task, e.m, low, pg, memory.FillZeropage, 0); n != pg || err != 0 {
		t.Fatalf("ZEROPAGE = %d, %v, want a page", n, err)
	}
	if shm.CachedPages() != 1 || e.page(low) == nil {
		t.Errorf("cache holds %d pages, entry %v", shm.CachedPages(), e.pte(low))
	}
	if _, err := u.Fill(e.task, e.m, low, pg, memory.FillZeropage, 0); err != abi.EEXIST {
		t.Errorf("second ZEROPAGE: %v, want EEXIST", err)
	}
}

// TestUffdShmemWPMarker: write protection of an empty shmem entry is a
// uffd-wp marker; a fault there maps the page write-protected, so that a
// write faults again into userfaultfd; unprotecting removes the marker.
func TestUffdShmemWPMarker(t *testing.T) {
	e := newEnv(t, true)
	shm := memory.NewShmem(e.alloc, 2*pg)
	e.mapAt(low, 2, rw, mm.MapShared, shm)
	u := memory.NewUserfaultfd("U", 0)
	wantErr(t, "Register", u.Register(e.task, e.m, low, 2*pg, memory.UffdWP), 0)
	wantErr(t, "WriteProtect", u.WriteProtect(e.task, e.m, low, 2*pg, true), 0)
	for _, a := range []uint64{low, low + pg} {
		if p := e.pte(a); !p.IsMarker() || p.Marker() != pgtable.MarkerUffdWP {
			t.Fatalf("entry at %#x = %v, want a uffd-wp marker", a, p)
		}
	}
	if ret := e.fault(low, read); ret&vmfault.Error != 0 {
		t.Fatalf("read fault: %v", ret)
	}
	if p := e.pte(low); !p.Present() || !p.Has(pgtable.UffdWP) || p.Has(pgtable.Write) {
		t.Errorf("entry after the read %v, want present and write-protected", p)
	}
	wantErr(t, "WriteProtect off", u.WriteProtect(e.task, e.m, low, 2*pg, false), 0)
	if p := e.pte(low + pg); !p.None() {
		t.Errorf("entry after unprotecting %v, want none", p)
	}
	if p := e.pte(low); p.Has(pgtable.UffdWP) {
		t.Errorf("entry after unprotecting %v, want no uffd-wp", p)
	}
}

// TestUffdHugetlb: hugetlb write protection takes whole huge pages, and a
// copy that finds the pool empty is EEXIST.
func TestUffdHugetlb(t *testing.T) {
	e := newEnv(t, true)
	pool := memory.NewHugePool(e.alloc)
	h := memory.NewHugetlbPrivate(pool)
	const huge = uint64((2 << 20))
	got, err := e.m.Mmap(ns, mm.MapRequest{Addr: 16 * huge, Length: huge, Prot: rw, Flags: mm.MapHugetlb | mm.MapNoReserve | mm.MapFixedNoReplace, Ops: h})
	if err != 0 || got != 16*huge {
		t.Fatalf("mmap: %#x, %v", got, err)
	}
	u := memory.NewUserfaultfd("U", 0)
	wantErr(t, "Register", u.Register(e.task, e.m, got, huge, memory.UffdMissing|memory.UffdWP), 0)
	wantErr(t, "WriteProtect 4k", u.WriteProtect(e.task, e.m, got, pg, true), abi.EINVAL)
	wantErr(t, "WriteProtect", u.WriteProtect(e.task, e.m, got, huge, true), 0)
	if p := e.pte(got); !p.IsMarker() || p.Marker()&pgtable.MarkerUffdWP == 0 {
		t.Errorf("huge entry %v, want a uffd-wp marker", p)
	}
	n, err := u.Fill(e.task, e.m, got, huge, memory.FillCopy, 1)
	if n != 0 || err != abi.EEXIST {
		t.Errorf("COPY with an empty pool = %d, %v, want EEXIST", n, err)
	}
	_, err = u.Fill(e.task, e.m, got+pg, huge, memory.FillCopy, 1)
	wantErr(t, "COPY past the VMA", err, abi.ENOENT)
}

// TestUffdUnregister: a range with a VMA that cannot take userfaultfd, or
// with no VMA at all, is EINVAL (the vma_can_userfault check of the
// unregister loop).
func TestUffdUnregister(t *testing.T) {
	e := newEnv(t, true)
	u := e.registered(1, memory.UffdMissing)
	e.mapAt(low+pg, 1, rw, mm.MapShared, opsOnly{})
	wantErr(t, "Unregister over a file", u.Unregister(e.task, e.m, low, 2*pg), abi.EINVAL)
	if e.m.VMALookup(low).Uffd == nil {
		t.Error("the refused unregister changed the registration")
	}
	wantErr(t, "Unregister of a hole", u.Unregister(e.task, e.m, low+4*pg, pg), abi.EINVAL)
	wantErr(t, "Unregister", u.Unregister(e.task, e.m, low, pg), 0)
	if v := e.m.VMALookup(low); v.Uffd != nil || v.Flags&(mm.VMUffdMiss|mm.VMUffdWP) != 0 {
		t.Errorf("VMA after unregister: %v, %v", v.Flags, v.Uffd)
	}
}
