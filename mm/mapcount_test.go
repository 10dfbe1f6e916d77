package mm_test

import (
	"fmt"
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/mm"
)

// TestMaxMapCount checks each operation at the vm.max_map_count boundary
// (Linux 6.18): do_mmap refuses when the address space has more VMAs than
// the limit (>), split_vma and a munmap that punches a hole when it has
// as many (>=); a change at an edge of a VMA that its neighbour takes in
// needs no split.
func TestMaxMapCount(t *testing.T) {
	const limit = 6
	const T = low // the VMA the operations act on: 8 pages, rw
	tests := []struct {
		name string
		// count is the number of VMAs before the operation, T included.
		count int
		// setup prepares T's neighbourhood (optional); op is the operation.
		setup     func(f *fixture)
		op        func(f *fixture) abi.Errno
		want      abi.Errno
		wantCount int
	}{
		{"mmap with more than the limit", limit + 1, nil, func(f *fixture) abi.Errno {
			return mmapErr(f, T+64*pg, 1)
		}, abi.ENOMEM, limit + 1},
		{"mmap at the limit passes it by one", limit, nil, func(f *fixture) abi.Errno {
			return mmapErr(f, T+64*pg, 1)
		}, 0, limit + 1},
		{"mmap over the limit that would merge", limit + 1, nil, func(f *fixture) abi.Errno {
			return mmapErr(f, T+8*pg, 1)
		}, abi.ENOMEM, limit + 1},
		{"mprotect of the middle, two splits to spare", limit - 2, nil, func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, T+2*pg, 2*pg, ro)
		}, 0, limit},
		{"mprotect of the middle, one split to spare: the first stays", limit - 1, nil, func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, T+2*pg, 2*pg, ro)
		}, abi.ENOMEM, limit},
		{"mprotect of the middle at the limit", limit, nil, func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, T+2*pg, 2*pg, ro)
		}, abi.ENOMEM, limit},
		{"mprotect of an edge, one split to spare", limit - 1, nil, func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, T, 2*pg, ro)
		}, 0, limit},
		{"mprotect of an edge at the limit", limit, nil, func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, T, 2*pg, ro)
		}, abi.ENOMEM, limit},
		{"mprotect of an edge the neighbour takes in, at the limit", limit, func(f *fixture) {
			f.mapAt(T-2*pg, 2, ro, 0)
		}, func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, T, 2*pg, ro)
		}, 0, limit},
		{"mprotect of an upper edge the next VMA takes in, at the limit", limit, func(f *fixture) {
			f.mapAt(T+8*pg, 2, ro, 0)
		}, func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, T+6*pg, 2*pg, ro)
		}, 0, limit},
		{"mprotect of a whole VMA over the limit", limit + 1, nil, func(f *fixture) abi.Errno {
			return f.m.Mprotect(ns, T, 8*pg, ro)
		}, 0, limit + 1},
		{"madvise of the middle, two splits to spare", limit - 2, nil, func(f *fixture) abi.Errno {
			return f.m.Madvise(ns, T+2*pg, 2*pg, mm.AdviceRandom)
		}, 0, limit},
		{"madvise of the middle at the limit", limit, nil, func(f *fixture) abi.Errno {
			return f.m.Madvise(ns, T+2*pg, 2*pg, mm.AdviceRandom)
		}, abi.ENOMEM, limit},
		{"munmap of a hole, one VMA to spare", limit - 1, nil, func(f *fixture) abi.Errno {
			return f.m.Munmap(ns, T+2*pg, 2*pg)
		}, 0, limit},
		{"munmap of a hole at the limit", limit, nil, func(f *fixture) abi.Errno {
			return f.m.Munmap(ns, T+2*pg, 2*pg)
		}, abi.ENOMEM, limit},
		{"munmap of an edge at the limit", limit, nil, func(f *fixture) abi.Errno {
			return f.m.Munmap(ns, T, 2*pg)
		}, 0, limit},
		{"munmap across two VMAs' ends over the limit", limit + 1, func(f *fixture) {
			f.mapAt(T+8*pg, 4, ro, 0)
		}, func(f *fixture) abi.Errno {
			return f.m.Munmap(ns, T+6*pg, 4*pg)
		}, 0, limit + 1},
		{"a range update of the middle at the limit", limit, nil, func(f *fixture) abi.Errno {
			var err abi.Errno
			f.withWrite(func() {
				err = f.m.UpdateRangeLocked(T+2*pg, T+4*pg, func(v *mm.VMA) { v.Flags |= mm.VMUffdMiss })
			})
			return err
		}, abi.ENOMEM, limit},
		{"a range update of the middle, two splits to spare", limit - 2, nil, func(f *fixture) abi.Errno {
			var err abi.Errno
			f.withWrite(func() {
				err = f.m.UpdateRangeLocked(T+2*pg, T+4*pg, func(v *mm.VMA) { v.Flags |= mm.VMUffdMiss })
			})
			return err
		}, 0, limit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, func(c *config.Kernel) { c.MaxMapCount = limit })
			f.mapAt(T, 8, rw, 0)
			if tc.setup != nil {
				tc.setup(f)
			}
			// Fill up with one-page VMAs far above, each on its own.
			for i := 0; f.vmaCount() < tc.count; i++ {
				f.mapAt(T+(1024+2*uint64(i))*pg, 1, ro, 0)
			}
			if n := f.vmaCount(); n != tc.count {
				t.Fatalf("setup: %d VMAs, want %d", n, tc.count)
			}
			before := f.spans(true)
			wantErrno(t, "the operation", tc.op(f), tc.want)
			if n := f.vmaCount(); n != tc.wantCount {
				t.Errorf("%d VMAs after, want %d: %v", n, tc.wantCount, f.spans(true))
			}
			if tc.want != 0 && tc.wantCount == tc.count {
				if got := f.spans(true); fmt.Sprint(got) != fmt.Sprint(before) {
					t.Errorf("a refused operation changed the map: %v, was %v", got, before)
				}
			}
			f.check()
		})
	}
}

func mmapErr(f *fixture, addr uint64, n int) abi.Errno {
	_, err := f.m.Mmap(ns, mm.MapRequest{Addr: addr, Length: uint64(n) * pg, Prot: rw, Flags: mm.MapFixedNoReplace})
	return err
}
