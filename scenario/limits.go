package scenario

import (
	"fmt"
	"math/bits"
	"strconv"
)

// The limits of the language (docs/scenario-format.md, "Limits"). The
// parser enforces every one of them, so that a file that parses runs the
// same on the model and on the host: within them neither runner meets a
// bound of its own (the host executor's 64 actor slots, 16 userfaultfd
// handles per process, 64-byte names, 1 GiB buffers) and no statement asks
// either machine for more than it can hold.
const (
	// MaxFileSize is the largest scenario file, in bytes (the loader reads
	// no more than this, plus one byte to tell that a file is larger).
	MaxFileSize = 1 << 20
	// MaxLineLen is the longest line, in bytes, without its line ending.
	MaxLineLen = 4096
	// MaxStatements is the most body statements a scenario has.
	MaxStatements = 10000
	// MaxActors is the most actors of a scenario: main and 63 that thread
	// and fork make (the executor keeps one signal-counter slot per actor,
	// 64 slots).
	MaxActors = 64
	// MaxNameLen is the longest name, in bytes: of the scenario, of a
	// region, file, actor or userfaultfd.
	MaxNameLen = 64
	// MaxUffds is the most userfaultfd names a scenario registers (the
	// executor holds 16 handles per process).
	MaxUffds = 16
	// MaxRange bounds the length of an address range (mmap, munmap,
	// mprotect, madvise, uffd register, unregister, wake and wp): 2^56 bytes, the largest user address space of
	// any modeled configuration (x86_64 LA57, riscv64 Sv57). A longer
	// range cannot name only user memory.
	MaxRange = 1 << 56
	// MaxFill bounds a size that a statement fills with data or walks
	// page by page: file, truncate, kread, kwrite, touch, uffd copy,
	// zeropage, continue and poison, mmap with populate or locked, and
	// madvise populate_read, populate_write and hwpoison: 256 MiB, which
	// the host fills well within a statement's time limit (a 1 GiB file
	// took over 3 s on this machine, loaded) and the model holds (a
	// statement filling 256 MiB makes it grow by about as much). The
	// executor refuses the same sizes past it (SIZE_CAP).
	MaxFill = 256 << 20
	// MaxMemlimit bounds memlimit: 16 GiB, below what this machine and
	// the model can hold, and far above what any statement can fill.
	MaxMemlimit = 16 << 30
	// MaxHugepages bounds hugepages: 1024 pages of 2 MiB, 2 GiB of memory.
	MaxHugepages = 1024
	// MaxTotalFill bounds the filled sizes of all a scenario's statements
	// together: 4 GiB, so that a file of many filling statements stays
	// within what one run may cost the model and the host, in memory and
	// in time, however its statements reuse or free what they filled.
	MaxTotalFill = 4 << 30
)

// Why each size is bounded, for the messages.
const (
	whyRange = "the largest user address space"
	whyFill  = "the most one statement may fill with data or walk page by page"
	whyMem   = "the largest memory limit the runners set"
)

// sizeText writes n the way the language would, with the byte count
// when a unit was used: "1M (1048576 bytes)", "2^56 bytes".
func sizeText(n uint64) string {
	switch s := formatSize(n); {
	case n >= 1<<40 && n&(n-1) == 0:
		return fmt.Sprintf("2^%d bytes", bits.TrailingZeros64(n))
	case n >= 1<<40:
		return fmt.Sprintf("%#x bytes", n)
	case s == strconv.FormatUint(n, 10):
		return s + " bytes"
	default:
		return fmt.Sprintf("%s (%d bytes)", s, n)
	}
}

// bounded reports a size written as s at col that exceeds max. A filled
// size also counts toward the scenario's MaxTotalFill.
func (p *parser) bounded(line, col int, s string, n, max uint64, why string) *Error {
	if n <= max {
		if why != whyFill {
			return nil
		}
		if p.filled += n; p.filled > MaxTotalFill {
			return p.errf(line, col, "expected the statements of a scenario to fill at most %s in all; this one (%s) brings them to %s",
				sizeText(MaxTotalFill), quote(s), sizeText(p.filled))
		}
		return nil
	}
	found := quote(s)
	switch {
	case s == strconv.FormatUint(n, 10):
	case n < 1<<40 && s == formatSize(n):
		found += fmt.Sprintf(" (%d bytes)", n)
	default:
		found += ", " + sizeText(n)
	}
	return p.errf(line, col, "expected a size of at most %s, %s; found %s", sizeText(max), why, found)
}

// nameTooLong reports a name longer than MaxNameLen, or nil.
func (p *parser) nameTooLong(line, col int, what, name string) *Error {
	if len(name) <= MaxNameLen {
		return nil
	}
	return p.errf(line, col, "expected %s of at most %d bytes, found one of %d bytes (%s)", what, MaxNameLen, len(name), quote(name))
}
