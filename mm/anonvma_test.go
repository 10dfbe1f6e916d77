package mm_test

import (
	"testing"

	"github.com/faultline/faultline/mm"
)

// anonOf returns the anon_vma of the VMA at addr.
func (f *fixture) anonOf(addr uint64) *mm.AnonVMA {
	f.t.Helper()
	v := f.vma(addr)
	if v == nil {
		f.t.Fatalf("no VMA at %#x", addr)
	}
	return v.AnonVMA()
}

func (f *fixture) mprotect(addr uint64, n int, prot mm.Prot) {
	f.t.Helper()
	wantErrno(f.t, "mprotect", f.m.Mprotect(ns, addr, uint64(n)*pg, prot), 0)
}

func (f *fixture) fork() *fixture {
	f.t.Helper()
	c, err := f.m.Dup(ns)
	wantErrno(f.t, "dup", err, 0)
	return &fixture{t: f.t, m: c, alloc: f.alloc, cfg: f.cfg}
}

// TestAnonVMAIdentity checks which VMAs share an anon_vma and which merge
// because of it. The layout is three VMAs of four pages at low: A, B and
// C.
func TestAnonVMAIdentity(t *testing.T) {
	const A, B, C = low, low + 4*pg, low + 8*pg
	rwx := rw | mm.ProtExec
	tests := []struct {
		name string
		// run sets up the address space and returns the one to inspect.
		run   func(f *fixture) *fixture
		spans []span
		// same and differ list pairs of addresses whose VMAs must have
		// the same anon_vma, and different (or only one) ones.
		same, differ [][2]uint64
	}{
		{"split halves share the anon_vma and merge again", func(f *fixture) *fixture {
			f.populate(A, 1)
			f.mprotect(B, 4, ro)
			if f.anonOf(A) == nil || f.anonOf(A) != f.anonOf(B) || f.anonOf(B) != f.anonOf(C) {
				t.Fatal("the split VMAs do not share the anon_vma")
			}
			f.mprotect(B, 4, rw)
			return f
		}, []span{{A, C + 4*pg, mm.VMRead | mm.VMWrite}}, nil, nil},
		{"fork: the parent's split halves merge again", func(f *fixture) *fixture {
			f.populate(A, 1)
			f.mprotect(B, 4, ro)
			f.fork()
			f.mprotect(B, 4, rw)
			return f
		}, []span{{A, C + 4*pg, mm.VMRead | mm.VMWrite}}, nil, nil},
		{"fork: the child's have anon_vmas of their own and stay apart", func(f *fixture) *fixture {
			f.populate(A, 1)
			f.mprotect(B, 4, ro)
			c := f.fork()
			if c.anonOf(A) == nil || c.anonOf(A) == f.anonOf(A) {
				t.Fatal("the child's VMA has the parent's anon_vma")
			}
			c.mprotect(B, 4, rw)
			return c
		}, []span{{A, B, mm.VMRead | mm.VMWrite}, {B, C, mm.VMRead | mm.VMWrite}, {C, C + 4*pg, mm.VMRead | mm.VMWrite}},
			nil, [][2]uint64{{A, B}, {B, C}, {A, C}}},
		{"fork: a child's VMA does not merge with one without an anon_vma", func(f *fixture) *fixture {
			f.mprotect(B, 4, ro)
			f.populate(A, 1)
			c := f.fork()
			c.mprotect(B, 4, rw)
			return c
		}, []span{{A, B, mm.VMRead | mm.VMWrite}, {B, C + 4*pg, mm.VMRead | mm.VMWrite}}, nil, [][2]uint64{{A, B}}},
		{"fork: nor with one below without an anon_vma", func(f *fixture) *fixture {
			f.mprotect(B, 4, ro)
			f.populate(C, 1)
			c := f.fork()
			c.mprotect(B, 4, rw)
			return c
		}, []span{{A, C, mm.VMRead | mm.VMWrite}, {C, C + 4*pg, mm.VMRead | mm.VMWrite}}, nil, [][2]uint64{{B, C}}},
		{"fork: the parent's does", func(f *fixture) *fixture {
			f.mprotect(B, 4, ro)
			f.populate(A, 1)
			f.fork()
			f.mprotect(B, 4, rw)
			return f
		}, []span{{A, C + 4*pg, mm.VMRead | mm.VMWrite}}, nil, nil},
		{"neighbours written apart merge with one side only", func(f *fixture) *fixture {
			f.mprotect(B, 4, ro)
			f.populate(A, 1)
			f.populate(C, 1)
			if f.anonOf(A) == f.anonOf(C) {
				t.Fatal("A and C share an anon_vma")
			}
			f.mprotect(B, 4, rw)
			return f
		}, []span{{A, C, mm.VMRead | mm.VMWrite}, {C, C + 4*pg, mm.VMRead | mm.VMWrite}},
			[][2]uint64{{A, B}}, [][2]uint64{{B, C}}},
		{"prepare reuses the next VMA's anon_vma first", func(f *fixture) *fixture {
			f.mprotect(B, 4, rwx)
			f.populate(A, 1)
			f.populate(C, 1)
			f.populate(B, 1)
			f.mprotect(B, 4, rw)
			return f
		}, []span{{A, B, mm.VMRead | mm.VMWrite}, {B, C + 4*pg, mm.VMRead | mm.VMWrite}},
			[][2]uint64{{B, C}}, [][2]uint64{{A, B}}},
		{"prepare reuses the previous VMA's when the next has none", func(f *fixture) *fixture {
			f.mprotect(B, 4, rwx)
			f.populate(A, 1)
			f.populate(B, 1)
			return f
		}, []span{{A, B, mm.VMRead | mm.VMWrite}, {B, C, mm.VMRead | mm.VMWrite | mm.VMExec}, {C, C + 4*pg, mm.VMRead | mm.VMWrite}},
			[][2]uint64{{A, B}}, [][2]uint64{{B, C}}},
		{"prepare does not reuse a neighbour's whose other flags differ", func(f *fixture) *fixture {
			wantErrno(t, "madvise", f.m.Madvise(ns, B, 4*pg, mm.AdviceRandom), 0)
			f.populate(A, 1)
			f.populate(B, 1)
			return f
		}, []span{{A, B, mm.VMRead | mm.VMWrite}, {B, C, mm.VMRead | mm.VMWrite}, {C, C + 4*pg, mm.VMRead | mm.VMWrite}},
			nil, [][2]uint64{{A, B}}},
		{"prepare does not reuse a fork child's anon_vma", func(f *fixture) *fixture {
			f.mprotect(B, 4, rwx)
			f.populate(A, 1)
			c := f.fork()
			c.populate(B, 1)
			return c
		}, []span{{A, B, mm.VMRead | mm.VMWrite}, {B, C, mm.VMRead | mm.VMWrite | mm.VMExec}, {C, C + 4*pg, mm.VMRead | mm.VMWrite}},
			nil, [][2]uint64{{A, B}}},
		{"a new mapping merges with a neighbour's anon_vma", func(f *fixture) *fixture {
			wantErrno(t, "munmap", f.m.Munmap(ns, C, 4*pg), 0)
			f.populate(B, 1)
			f.mapAt(C, 4, rw, 0)
			return f
		}, []span{{A, C + 4*pg, mm.VMRead | mm.VMWrite}}, nil, nil},
		{"a fork child's new mapping does not merge with its VMA", func(f *fixture) *fixture {
			wantErrno(t, "munmap", f.m.Munmap(ns, C, 4*pg), 0)
			f.populate(B, 1)
			c := f.fork()
			c.mapAt(C, 4, rw, 0)
			return c
		}, []span{{A, C, mm.VMRead | mm.VMWrite}, {C, C + 4*pg, mm.VMRead | mm.VMWrite}}, nil, [][2]uint64{{B, C}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.mapAt(A, 12, rw, 0)
			g := tc.run(f)
			g.wantSpans(tc.spans...)
			for _, p := range tc.same {
				if a, b := g.anonOf(p[0]), g.anonOf(p[1]); a == nil || a != b {
					t.Errorf("%#x and %#x: anon_vmas %p and %p, want the same", p[0], p[1], a, b)
				}
			}
			for _, p := range tc.differ {
				if a, b := g.anonOf(p[0]), g.anonOf(p[1]); a == b {
					t.Errorf("%#x and %#x share anon_vma %p", p[0], p[1], a)
				}
			}
			g.check()
			f.check()
		})
	}
}
