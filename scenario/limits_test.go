package scenario

import (
	"fmt"
	"strings"
	"testing"
)

// TestLimits checks every limit of limits.go: a statement at the limit
// parses, and one just past it is one error at the word that exceeds it,
// saying what was expected and what was found. The statement under test
// is on line 6, after the prelude.
func TestLimits(t *testing.T) {
	const p = prelude
	long := func(n int) string { return strings.Repeat("a", n) }
	const (
		rng     = "0x100000000000000" // MaxRange
		rngOver = "0x100000000000001"
		fill    = "256M" // MaxFill
		over    = "0x10000001"
	)
	rangeMsg := `expected a size of at most 2^56 bytes, the largest user address space; found "` + rngOver + `", 0x100000000000001 bytes`
	fillMsg := `expected a size of at most 256M (268435456 bytes), the most one statement may fill with data or walk page by page; found "` + over + `", 268435457 bytes`
	tests := []struct {
		name      string
		ok, bad   string // the statement at the limit, and past it
		pos, want string // of the error in bad
	}{
		// Sizes of ranges.
		{"mmap", "mmap Y " + rng + " none private anon", "mmap Y " + rngOver + " none private anon", "6:8", rangeMsg},
		{"munmap", "munmap X " + rng, "munmap X " + rngOver, "6:10", rangeMsg},
		{"mprotect", "mprotect X " + rng + " none", "mprotect X " + rngOver + " none", "6:12", rangeMsg},
		{"madvise", "madvise X " + rng + " dontneed", "madvise X " + rngOver + " dontneed", "6:11", rangeMsg},
		{"madvise guard", "madvise X " + rng + " guard_install", "madvise X " + rngOver + " guard_install", "6:11", rangeMsg},
		{"uffd register", "uffd V register X " + rng + " missing", "uffd V register X " + rngOver + " missing", "6:19", rangeMsg},
		{"uffd unregister", "uffd U unregister X " + rng, "uffd U unregister X " + rngOver, "6:21", rangeMsg},
		{"uffd wake", "uffd U wake X " + rng, "uffd U wake X " + rngOver, "6:15", rangeMsg},
		{"uffd wp", "uffd U wp X " + rng + " on", "uffd U wp X " + rngOver + " on", "6:13", rangeMsg},

		// Sizes a statement fills.
		{"mmap populate", "mmap Y " + fill + " rw private anon populate", "mmap Y " + over + " rw private anon populate", "6:8", fillMsg},
		{"mmap locked", "mmap Y " + fill + " rw private anon locked", "mmap Y " + over + " rw private anon locked", "6:8", fillMsg},
		{"madvise populate_read", "madvise X " + fill + " populate_read", "madvise X " + over + " populate_read", "6:11", fillMsg},
		{"madvise populate_write", "madvise X " + fill + " populate_write", "madvise X " + over + " populate_write", "6:11", fillMsg},
		{"madvise hwpoison", "madvise X " + fill + " hwpoison", "madvise X " + over + " hwpoison", "6:11", fillMsg},
		{"file", "file G " + fill, "file G " + over, "6:8", fillMsg},
		{"truncate", "truncate F " + fill, "truncate F " + over, "6:12", fillMsg},
		{"kread", "kread X " + fill, "kread X " + over, "6:9", fillMsg},
		{"kwrite", "kwrite X " + fill, "kwrite X " + over, "6:10", fillMsg},
		{"touch", "touch X " + fill + " write", "touch X " + over + " write", "6:9", fillMsg},
		{"uffd copy", "uffd U copy X " + fill, "uffd U copy X " + over, "6:15", fillMsg},
		{"uffd zeropage", "uffd U zeropage X " + fill, "uffd U zeropage X " + over, "6:19", fillMsg},
		{"uffd continue", "uffd U continue X " + fill, "uffd U continue X " + over, "6:19", fillMsg},
		{"uffd poison", "uffd U poison X " + fill, "uffd U poison X " + over, "6:17", fillMsg},

		// Limits of the machine.
		{"memlimit in a unit", "memlimit 16G", "memlimit 17G", "6:10", `found "17G" (18253611008 bytes)`},
		{"memlimit", "memlimit 16G", "memlimit 0x400000001", "6:10",
			`expected a size of at most 16G (17179869184 bytes), the largest memory limit the runners set; found "0x400000001", 17179869185 bytes`},
		{"hugepages", "hugepages 1024", "hugepages 1025", "6:11",
			`expected a number of huge pages of at most 1024 (2 MiB each: 2 GiB of memory), found "1025"`},

		// Names.
		{"region name", "mmap " + long(64) + " 1p rw private anon", "mmap " + long(65) + " 1p rw private anon", "6:6",
			`expected a region name of at most 64 bytes, found one of 65 bytes`},
		{"file name", "file " + long(64) + " 1p", "file " + long(65) + " 1p", "6:6", `expected a file name of at most 64 bytes, found one of 65 bytes`},
		{"actor name", "fork " + long(64), "thread " + long(65), "6:8", `expected a new actor name of at most 64 bytes, found one of 65 bytes`},
		{"uffd name", "uffd " + long(64) + " register X 1p missing", "uffd " + long(65) + " register X 1p missing", "6:6",
			`expected a userfaultfd name of at most 64 bytes, found one of 65 bytes`},

		// Addresses: the arithmetic is exact.
		{"highest address", "read 0xffffffffffffffff", "read 0xffffffffffffffff+1", "6:6",
			`expected an address from 0 to 0xffffffffffffffff, found "0xffffffffffffffff+1", which is 0x10000000000000000: address arithmetic does not wrap around`},
		{"lowest address", "read 0x1000-0x2000+0x1000", "read 0-1", "6:6",
			`expected an address from 0 to 0xffffffffffffffff, found "0-1", which is -0x1`},
		{"largest offset", "read X+0x7fffffffffffffff", "read X+0x8000000000000000", "6:6",
			`expected an offset from region X between -2^63 and 2^63-1, found "X+0x8000000000000000", which is 0x8000000000000000 from it`},
		{"smallest offset", "read X-0x8000000000000000", "read X-0xffffffffffffffff", "6:6",
			`found "X-0xffffffffffffffff", which is -0xffffffffffffffff from it`},
		{"offset in an expectation", "read X => SIGSEGV SEGV_MAPERR @X-0x8000000000000000",
			"read X => SIGSEGV SEGV_MAPERR @X-0x8000000000000001", "6:32", `which is -0x8000000000000001 from it`},
		{"at=", "mmap Y 1p rw private anon at=0xfffffffffffff000+1p-1", "mmap Y 1p rw private anon at=0xfffffffffffff000+1p", "6:30",
			`which is 0x10000000000000000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustParse(t, p+tt.ok+"\n")
			errs := parseErrors(t, p+tt.bad+"\n")
			got := errs[0].Error()
			if want := "t.fault:" + tt.pos + ": "; !strings.HasPrefix(got, want) || !strings.Contains(got, tt.want) {
				t.Errorf("error:\n%s\nwant it to start with %q and contain %q", got, want, tt.want)
			}
			if len(errs) != 1 {
				t.Errorf("%d errors, want 1:\n%v", len(errs), errs)
			}
		})
	}
}

// TestLimitCounts checks the limits on how many of a thing a file has:
// actors, userfaultfd names, statements, line and file length.
func TestLimitCounts(t *testing.T) {
	threads := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "thread t%d\n", i)
		}
		return b.String()
	}
	uffds := func(n int) string {
		var b strings.Builder
		b.WriteString("mmap X 1p rw private anon\n")
		for i := range n {
			fmt.Fprintf(&b, "uffd U%d register X 1p missing\n", i)
		}
		return b.String()
	}
	fills := func(n int) string { return "mmap X 256M rw private anon\n" + strings.Repeat("kread X 256M\n", n) }
	statements := func(n int) string { return strings.Repeat("read 0 => SIGSEGV SEGV_MAPERR @0\n", n) }
	tests := []struct {
		name      string
		ok, bad   string // the body at the limit, and past it
		pos, want string
	}{
		{"actors", threads(MaxActors - 1), threads(MaxActors) + "t63: read 0 => SIGSEGV SEGV_MAPERR @0\n", "t.fault:65:1",
			`expected at most 64 actors (main and 63 that thread and fork make), found one more: "t63"`},
		{"uffd names", uffds(MaxUffds) + "uffd U0 register X 1p wp\n", uffds(MaxUffds+1) + "uffd U16 wake X 1p\n", "t.fault:19:6",
			`expected at most 16 userfaultfd names, found one more: "U16"`},
		{"statements", statements(MaxStatements), statements(MaxStatements + 1), "t.fault:10002:1",
			`expected at most 10000 statements, found more: this is statement 10001`},
		{"total fill", fills(MaxTotalFill / MaxFill), fills(MaxTotalFill/MaxFill) + "kread X 1\n", "t.fault:19:9",
			`expected the statements of a scenario to fill at most 4G (4294967296 bytes) in all; this one ("1") brings them to 4294967297 bytes`},
		{"line", "#" + strings.Repeat("x", MaxLineLen-1) + "\n", "#" + strings.Repeat("x", MaxLineLen) + "\n", "t.fault:2:4097",
			`expected a line of at most 4096 bytes, found one of 4097 bytes`},
		{"scenario name", "", "", "", ""}, // below
	}
	for _, tt := range tests[:len(tests)-1] {
		t.Run(tt.name, func(t *testing.T) {
			mustParse(t, "scenario x\n"+tt.ok)
			errs := parseErrors(t, "scenario x\n"+tt.bad)
			if got := errs[0].Error(); !strings.HasPrefix(got, tt.pos+": ") || !strings.Contains(got, tt.want) {
				t.Errorf("error:\n%s\nwant it to start with %q and contain %q", got, tt.pos, tt.want)
			}
			if len(errs) != 1 {
				t.Errorf("%d errors, want 1:\n%v", len(errs[:min(len(errs), 3)]), errs[:min(len(errs), 3)])
			}
		})
	}
	t.Run("scenario name", func(t *testing.T) {
		mustParse(t, "scenario "+strings.Repeat("s", MaxNameLen))
		errs := parseErrors(t, "scenario "+strings.Repeat("s", MaxNameLen+1))
		if got := errs[0].Error(); !strings.HasPrefix(got, "t.fault:1:10: expected a scenario name of at most 64 bytes, found one of 65 bytes") {
			t.Errorf("error: %s", got)
		}
	})
	t.Run("file", func(t *testing.T) {
		// A file past the limit is one error at its start, whatever it holds.
		src := largeSource() + "x"
		errs := parseErrors(t, src)
		want := "t.fault:1:1: expected a scenario file of at most 1M (1048576 bytes), found one of 1048577 bytes or more"
		if len(errs) != 1 || errs[0].Error() != want {
			t.Errorf("errors:\n%v\nwant:\n%s", errs, want)
		}
	})
}

// TestHostile checks that every hostile seed of the fuzzer is refused.
func TestHostile(t *testing.T) {
	for i, src := range hostileSources() {
		if _, err := Parse("h.fault", []byte(src)); err == nil {
			t.Errorf("hostile source %d parsed", i)
		}
	}
}
