// Package scenario parses the scenario language (.fault files): small text
// files that set up an address space, make accesses that fault, and state
// what must happen. The language is specified in docs/scenario-format.md;
// this package turns a file into a checked syntax tree and reports every
// error as file:line:column.
package scenario

import (
	"fmt"
	"github.com/faultline/faultline/config"
	"strconv"
	"strings"
)

// Pos is a position in a scenario file. Line and Col count from 1; Col
// counts bytes.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Scenario is one parsed .fault file.
type Scenario struct {
	Pos    Pos    // of the scenario statement
	Name   string // matches [a-z0-9][a-z0-9._-]*
	About  string
	Arches []string // from the arch header; nil means every modeled arch
	Needs  []string // host features the real-kernel run needs
	Config []ConfigPin
	Body   []*Stmt
	Lines  int // number of lines in the file
	// pages is set when a size is written in pg, base pages: how the
	// parse read them, and the source to read again for another page
	// size (ForPageSize).
	pages *pageUnit
}

// pageUnit is what a scenario that writes sizes in pg keeps.
type pageUnit struct {
	size uint64 // the bytes the parse read a pg as
	src  []byte
}

// UsesPageUnit reports whether a size of s is written in pg.
func (s *Scenario) UsesPageUnit() bool { return s.pages != nil }

// ConfigPin is one KEY=VALUE of a config header. The parser checks the key
// is known and the value well formed (see ConfigKeys).
type ConfigPin struct {
	Pos   Pos
	Key   string
	Value string
}

// Stmt is one body statement: an operation run by an actor, with an
// optional expectation.
type Stmt struct {
	Pos        Pos    // of the first word of the line (the actor prefix if any)
	Text       string // the statement as written, without comment, trimmed
	Actor      string // "main" unless the line starts with "T:"
	Op         Op
	Background bool     // the line ends in "&"
	Expect     *Outcome // nil: the statement must not fail
	// Overrides holds the "KEY=> OUTCOME" expectations by KEY, in the
	// canonical form Selector.String gives: an arch name (today's kernel
	// on that arch), Generic (every arch converted to the generic
	// handler), a kernel range ("kernel>=7.0"), or several joined by "+"
	// ("riscv64+generic", "arm64+kernel<6.3").
	Overrides map[string]*Outcome
}

// Generic is the override key of the outcome under the generic handler.
const Generic = "generic"

// OverrideKey is the key in Stmt.Overrides of the override for arch,
// under the generic handler when generic is set ("riscv64+generic").
func OverrideKey(arch string, generic bool) string {
	return Selector{Arch: arch, Generic: generic}.String()
}

// ExpectFor returns the expectation of s on arch under the native
// handler (what the kernel does today) or the generic one, at kernel
// version v: the most specific override that holds (the handler counts
// most, then the arch, then the kernel range: ARCH+generic+kernel…,
// ARCH+generic, generic+kernel…, generic, ARCH+kernel…, ARCH, kernel…),
// else the main expectation — a conversion, or another version, changes
// nothing the file does not say it changes. Nil when the statement has
// no expectation.
func (s *Stmt) ExpectFor(arch string, generic bool, v config.Version) *Outcome {
	best, rank := s.Expect, -1
	for key, o := range s.Overrides {
		sel, err := ParseSelector(key)
		if err != nil || !sel.HoldsFor(arch, generic, v) {
			continue
		}
		if r := sel.rank(); r > rank {
			best, rank = o, r
		}
	}
	return best
}

// Addr is an address expression: a region name plus an offset, or an
// absolute number (Name empty). The offset is the sum of the +SIZE and
// -SIZE terms, computed modulo 2^64.
type Addr struct {
	Pos    Pos
	Name   string
	Offset uint64
}

// Byte is a byte value: a number from 0 to 255, or the architecture's
// return instruction (Ret).
type Byte struct {
	Ret   bool
	Value uint8
}

// Prot is a protection: a combination of read, write and exec.
type Prot struct {
	Read, Write, Exec bool
}

func (p Prot) String() string {
	s := ""
	if p.Read {
		s += "r"
	}
	if p.Write {
		s += "w"
	}
	if p.Exec {
		s += "x"
	}
	if s == "" {
		return "none"
	}
	return s
}

// Access is the kind of a user access in touch.
type Access int

// Accesses.
const (
	AccessRead Access = iota
	AccessWrite
	AccessExec
)

func (a Access) String() string {
	switch a {
	case AccessRead:
		return "read"
	case AccessWrite:
		return "write"
	case AccessExec:
		return "exec"
	}
	return "access?"
}

// Op is the operation of a statement: one of the types below.
type Op interface {
	// Keyword is the statement's first word ("mmap", "uffd", ...).
	Keyword() string
}

// Mmap is "mmap NAME SIZE PROT FLAG... [at=ADDR]".
type Mmap struct {
	Name      string
	Size      uint64
	Prot      Prot
	Shared    bool   // else private
	File      string // "" for anon
	Off       uint64 // file offset (only with File)
	GrowsDown bool
	Populate  bool
	Hugetlb   bool
	NoReserve bool
	Locked    bool
	At        *Addr // MAP_FIXED_NOREPLACE address, or nil
}

// Munmap is "munmap ADDR SIZE".
type Munmap struct {
	Addr Addr
	Size uint64
}

// Mprotect is "mprotect ADDR SIZE PROT".
type Mprotect struct {
	Addr Addr
	Size uint64
	Prot Prot
}

// Advice is a madvise advice.
type Advice string

// Advice values of the language.
const (
	AdvDontneed      Advice = "dontneed"
	AdvPopulateRead  Advice = "populate_read"
	AdvPopulateWrite Advice = "populate_write"
	AdvGuardInstall  Advice = "guard_install"
	AdvGuardRemove   Advice = "guard_remove"
	AdvRandom        Advice = "random"
	AdvHWPoison      Advice = "hwpoison"
)

// Madvise is "madvise ADDR SIZE ADVICE".
type Madvise struct {
	Addr   Addr
	Size   uint64
	Advice Advice
}

// File is "file NAME SIZE [fill=BYTE]".
type File struct {
	Name string
	Size uint64
	Fill Byte
}

// Truncate is "truncate NAME SIZE".
type Truncate struct {
	Name string
	Size uint64
}

// Rlimit is "rlimit stack SIZE" (RLIMIT_STACK is the only resource so far).
type Rlimit struct {
	Resource string
	Size     uint64
}

// Memlimit is "memlimit SIZE".
type Memlimit struct{ Size uint64 }

// Hugepages is "hugepages N".
type Hugepages struct{ N uint64 }

// Read is "read ADDR".
type Read struct{ Addr Addr }

// Write is "write ADDR [BYTE]" (default 0x41).
type Write struct {
	Addr  Addr
	Value Byte
}

// Exec is "exec ADDR".
type Exec struct{ Addr Addr }

// Touch is "touch ADDR SIZE read|write".
type Touch struct {
	Addr   Addr
	Size   uint64
	Access Access // AccessRead or AccessWrite
}

// KRead is "kread ADDR SIZE [BYTE]": read(2) from a regular file into ADDR.
type KRead struct {
	Addr  Addr
	Size  uint64
	Value Byte // the file's bytes (default 0)
}

// KWrite is "kwrite ADDR SIZE": write(2) of the buffer at ADDR into a file.
type KWrite struct {
	Addr Addr
	Size uint64
}

// KDeref is the extension "kderef ADDR [write]": the kernel touches user
// memory through an instruction that has no exception-table entry (a
// kernel bug). Model-only: a fault it cannot resolve is an oops.
type KDeref struct {
	Addr  Addr
	Write bool
}

// Faults is the extension "faults T": T's minor and major fault counts
// (getrusage ru_minflt, ru_majflt of the thread) since T's previous faults
// statement, or since T began. Its expectation is an OutFaults outcome,
// "=> minflt=N majflt=N" (either count alone checks only it); without
// one it only sets the baseline.
type Faults struct{ Target string }

// Evict is the extension "evict NAME": the file's dirty pages are written
// back and every page-cache page no mapping uses is dropped, so the next
// fault on one needs I/O (host: fsync and POSIX_FADV_DONTNEED).
type Evict struct{ Name string }

// IO is the extension "io NAME hold|release" (model only): while held,
// reads of the file's pages from the disk do not complete; release
// completes them. It lets a scenario act while a fault waits for I/O.
type IO struct {
	Name string
	Hold bool
}

// Thread is "thread T".
type Thread struct{ Name string }

// Fork is "fork T".
type Fork struct{ Name string }

// SigAction values.
const (
	SigCatch   = "catch"
	SigIgnore  = "ignore"
	SigDefault = "default"
)

// Sigaction is "sigaction SIG catch|ignore|default".
type Sigaction struct {
	Signal int
	Action string // SigCatch, SigIgnore or SigDefault
}

// Kill is "kill T SIG".
type Kill struct {
	Target string
	Signal int
}

// Caught is "caught T SIG => N"; N is the statement's expectation
// (an Outcome of kind OutCount).
type Caught struct {
	Target string
	Signal int
}

// Wait is "wait T".
type Wait struct{ Target string }

// UffdCmd names a userfaultfd operation.
type UffdCmd string

// userfaultfd operations.
const (
	UffdRegister   UffdCmd = "register"
	UffdEvent      UffdCmd = "event"
	UffdCopy       UffdCmd = "copy"
	UffdZeropage   UffdCmd = "zeropage"
	UffdPoison     UffdCmd = "poison"
	UffdContinue   UffdCmd = "continue"
	UffdWake       UffdCmd = "wake"
	UffdWP         UffdCmd = "wp"
	UffdUnregister UffdCmd = "unregister"
)

// Uffd is "uffd U CMD ...". Fields beyond Name and Cmd are set as the
// command takes them.
type Uffd struct {
	Name string
	Cmd  UffdCmd
	Addr Addr   // all but event
	Size uint64 // all but event
	// register
	Missing, WP, Minor bool
	SigBus             bool
	// copy
	Value Byte
	// wp
	On bool
}

func (*Mmap) Keyword() string      { return "mmap" }
func (*Munmap) Keyword() string    { return "munmap" }
func (*Mprotect) Keyword() string  { return "mprotect" }
func (*Madvise) Keyword() string   { return "madvise" }
func (*File) Keyword() string      { return "file" }
func (*Truncate) Keyword() string  { return "truncate" }
func (*Rlimit) Keyword() string    { return "rlimit" }
func (*Memlimit) Keyword() string  { return "memlimit" }
func (*Hugepages) Keyword() string { return "hugepages" }
func (*Read) Keyword() string      { return "read" }
func (*Write) Keyword() string     { return "write" }
func (*Exec) Keyword() string      { return "exec" }
func (*Touch) Keyword() string     { return "touch" }
func (*KRead) Keyword() string     { return "kread" }
func (*KWrite) Keyword() string    { return "kwrite" }
func (*KDeref) Keyword() string    { return "kderef" }
func (*Faults) Keyword() string    { return "faults" }
func (*Evict) Keyword() string     { return "evict" }
func (*IO) Keyword() string        { return "io" }
func (*Thread) Keyword() string    { return "thread" }
func (*Fork) Keyword() string      { return "fork" }
func (*Sigaction) Keyword() string { return "sigaction" }
func (*Kill) Keyword() string      { return "kill" }
func (*Caught) Keyword() string    { return "caught" }
func (*Wait) Keyword() string      { return "wait" }
func (*Uffd) Keyword() string      { return "uffd" }

// OutcomeKind is the kind of an expected or observed outcome.
type OutcomeKind int

// Outcome kinds (the table in the spec's "Expectations").
const (
	OutOK       OutcomeKind = iota // ok [VALUE]
	OutSignal                      // SIGNAME CODE @ADDR [lsb=N]
	OutErrno                       // ERRNO
	OutKilled                      // killed SIGNAME
	OutBlocked                     // blocked
	OutFault                       // fault ADDR [write] [wp] [minor]
	OutOops                        // oops (model only)
	OutLivelock                    // livelock (model only)
	OutCount                       // N, the expectation of caught
	OutFaults                      // minflt=N majflt=N, the expectation of faults
)

// Outcome is an expectation as written.
type Outcome struct {
	Pos  Pos
	Kind OutcomeKind

	// OutOK: the value, if one was given (a byte, possibly ret, or a count).
	HasValue bool
	Value    uint64
	ValueRet bool // the value was written "ret"

	// OutSignal, OutKilled.
	Signal int
	// OutSignal.
	Code   int
	Addr   Addr
	HasLSB bool
	LSB    int

	// OutErrno.
	Errno int

	// OutFault: Addr holds the address.
	FaultWrite, FaultWP, FaultMinor bool

	// OutCount.
	Count uint64

	// OutFaults: the counts given (either may be left out).
	Minflt, Majflt       uint64
	HasMinflt, HasMajflt bool
}

// FaultCounts writes the counts an OutFaults expectation gives, as the
// language does: "minflt=N majflt=N", or either alone.
func (o *Outcome) FaultCounts() string {
	var parts []string
	if o.HasMinflt {
		parts = append(parts, "minflt="+strconv.FormatUint(o.Minflt, 10))
	}
	if o.HasMajflt {
		parts = append(parts, "majflt="+strconv.FormatUint(o.Majflt, 10))
	}
	return strings.Join(parts, " ")
}
