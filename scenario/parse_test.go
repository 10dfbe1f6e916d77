package scenario

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/faultline/faultline/abi"
)

// specExample is the example of docs/scenario-format.md.
const specExample = `scenario stack-guard-gap
about "a growsdown stack expands downward, but not into the guard gap above another mapping"
arch x86_64 riscv64 arm64

mmap R 4M none private anon          # reserve a hole with a known layout
munmap R 4M
mmap LOW 1p rw private anon at=R
mmap STK 4p rw private anon growsdown at=R+3M
write STK-1p 1           => ok                      # expands by one page
write LOW+1p+16         => SIGSEGV SEGV_MAPERR @LOW+1p+16   # inside the 1 MiB guard gap
`

func TestSpecExample(t *testing.T) {
	s := mustParse(t, specExample)
	want := &Scenario{
		Name:   "stack-guard-gap",
		About:  "a growsdown stack expands downward, but not into the guard gap above another mapping",
		Arches: []string{"x86_64", "riscv64", "arm64"},
		Body: []*Stmt{
			{Actor: "main", Op: &Mmap{Name: "R", Size: 4 << 20}},
			{Actor: "main", Op: &Munmap{Addr: Addr{Name: "R"}, Size: 4 << 20}},
			{Actor: "main", Op: &Mmap{Name: "LOW", Size: 4096, Prot: Prot{Read: true, Write: true}, At: &Addr{Name: "R"}}},
			{Actor: "main", Op: &Mmap{Name: "STK", Size: 4 * 4096, Prot: Prot{Read: true, Write: true}, GrowsDown: true,
				At: &Addr{Name: "R", Offset: 3 << 20}}},
			{Actor: "main", Op: &Write{Addr: Addr{Name: "STK", Offset: 1<<64 - 4096}, Value: Byte{Value: 1}},
				Expect: &Outcome{Kind: OutOK}},
			{Actor: "main", Op: &Write{Addr: Addr{Name: "LOW", Offset: 4096 + 16}, Value: Byte{Value: 0x41}},
				Expect: &Outcome{Kind: OutSignal, Signal: int(abi.SIGSEGV), Code: int(abi.SEGV_MAPERR),
					Addr: Addr{Name: "LOW", Offset: 4096 + 16}}},
		},
	}
	if s.Lines != 10 {
		t.Errorf("Lines = %d, want 10", s.Lines)
	}
	if got := stripPositions(s); !reflect.DeepEqual(got, want) {
		t.Errorf("spec example:\ngot:\n%s\nwant:\n%s", dump(got), dump(want))
	}
}

// TestSpecDocExample parses the example as it stands in the spec itself,
// so that the two cannot drift apart.
func TestSpecDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/scenario-format.md")
	if err != nil {
		t.Skipf("spec not found: %v", err)
	}
	_, rest, ok := strings.Cut(string(doc), "## Example\n")
	if !ok {
		t.Fatal(`spec has no "## Example" section`)
	}
	_, rest, ok = strings.Cut(rest, "```\n")
	if !ok {
		t.Fatal("spec example has no code block")
	}
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("spec example code block is not closed")
	}
	s := mustParse(t, example)
	if s.Name != "stack-guard-gap" || len(s.Body) != 6 {
		t.Errorf("spec example parsed to %q with %d statements", s.Name, len(s.Body))
	}
	checkRoundTrip(t, s)
}

// prelude defines the names the statement tests use: region X (4 pages),
// file F, actor t and userfaultfd U.
const prelude = `scenario t
mmap X 4p rw private anon
file F 2p
thread t
uffd U register X 4p missing
`

func TestStatements(t *testing.T) {
	x := func(off uint64) Addr { return Addr{Name: "X", Offset: off} }
	main := func(op Op) *Stmt { return &Stmt{Actor: "main", Op: op} }
	tests := []struct {
		src  string // lines after the prelude; the last statement is checked
		want *Stmt
	}{
		{"mmap Y 1p none private anon", main(&Mmap{Name: "Y", Size: 4096})},
		{"mmap Y 2M rx shared file=F off=1p growsdown populate hugetlb noreserve locked at=X+1p",
			main(&Mmap{Name: "Y", Size: 2 << 20, Prot: Prot{Read: true, Exec: true}, Shared: true, File: "F", Off: 4096,
				GrowsDown: true, Populate: true, Hugetlb: true, NoReserve: true, Locked: true, At: &Addr{Name: "X", Offset: 4096}})},
		{"mmap Y 0x3000 wx at=0x10000 anon private", main(&Mmap{Name: "Y", Size: 0x3000, Prot: Prot{Write: true, Exec: true},
			At: &Addr{Offset: 0x10000}})},
		{"mmap X 1p w private anon at=X+2p", main(&Mmap{Name: "X", Size: 4096, Prot: Prot{Write: true}, At: &Addr{Name: "X", Offset: 2 * 4096}})},
		{"munmap X+1p 2p", main(&Munmap{Addr: x(4096), Size: 2 * 4096})},
		{"mprotect X 1p x", main(&Mprotect{Addr: x(0), Size: 4096, Prot: Prot{Exec: true}})},
		{"mprotect X 1k rwx", main(&Mprotect{Addr: x(0), Size: 1024, Prot: Prot{Read: true, Write: true, Exec: true}})},
		{"madvise X 4p dontneed", main(&Madvise{Addr: x(0), Size: 4 * 4096, Advice: AdvDontneed})},
		{"madvise X 4p hwpoison", main(&Madvise{Addr: x(0), Size: 4 * 4096, Advice: AdvHWPoison})},
		{"madvise X 1G guard_install", main(&Madvise{Addr: x(0), Size: 1 << 30, Advice: AdvGuardInstall})},
		{"file G 3k fill=0xff", main(&File{Name: "G", Size: 3072, Fill: Byte{Value: 0xff}})},
		{"file G 10", main(&File{Name: "G", Size: 10})},
		{"file G 1p fill=ret", main(&File{Name: "G", Size: 4096, Fill: Byte{Ret: true}})},
		{"truncate F 0", main(&Truncate{Name: "F"})},
		{"rlimit stack 8M", main(&Rlimit{Resource: "stack", Size: 8 << 20})},
		{"memlimit 64M", main(&Memlimit{Size: 64 << 20})},
		{"hugepages 0x10", main(&Hugepages{N: 16})},
		{"read X+16", main(&Read{Addr: x(16)})},
		{"read X-1", main(&Read{Addr: x(^uint64(0))})},
		{"read 0x1000+1p-16", main(&Read{Addr: Addr{Offset: 0x1ff0}})},
		{"read 0xffffffffff600000", main(&Read{Addr: Addr{Offset: 0xffffffffff600000}})},
		{"write X", main(&Write{Addr: x(0), Value: Byte{Value: 0x41}})},
		{"write X 0x5a", main(&Write{Addr: x(0), Value: Byte{Value: 0x5a}})},
		{"write X ret", main(&Write{Addr: x(0), Value: Byte{Ret: true}})},
		{"write X 0", main(&Write{Addr: x(0)})},
		{"exec X+1p", main(&Exec{Addr: x(4096)})},
		{"touch X 4p read", main(&Touch{Addr: x(0), Size: 4 * 4096, Access: AccessRead})},
		{"touch X 4p write", main(&Touch{Addr: x(0), Size: 4 * 4096, Access: AccessWrite})},
		{"kread X 1p", main(&KRead{Addr: x(0), Size: 4096})},
		{"kread X 1p 7", main(&KRead{Addr: x(0), Size: 4096, Value: Byte{Value: 7}})},
		{"kwrite X 8192", main(&KWrite{Addr: x(0), Size: 8192})},
		{"kderef X", main(&KDeref{Addr: x(0)})},
		{"kderef X+8 write", main(&KDeref{Addr: x(8), Write: true})},
		{"thread u", main(&Thread{Name: "u"})},
		{"fork child", main(&Fork{Name: "child"})},
		{"t: fork grandchild_2", &Stmt{Actor: "t", Op: &Fork{Name: "grandchild_2"}}},
		{"sigaction SIGUSR1 catch", main(&Sigaction{Signal: int(abi.SIGUSR1), Action: SigCatch})},
		{"sigaction SIGSEGV ignore", main(&Sigaction{Signal: int(abi.SIGSEGV), Action: SigIgnore})},
		{"sigaction SIGKILL default", main(&Sigaction{Signal: int(abi.SIGKILL), Action: SigDefault})},
		{"kill t SIGUSR1", main(&Kill{Target: "t", Signal: int(abi.SIGUSR1)})},
		{"kill main SIGKILL", main(&Kill{Target: "main", Signal: int(abi.SIGKILL)})},
		{"caught t SIGUSR1 => 2", &Stmt{Actor: "main", Op: &Caught{Target: "t", Signal: int(abi.SIGUSR1)},
			Expect: &Outcome{Kind: OutCount, Count: 2}}},
		{"caught t SIGUSR1 => 0 arm64=> 1", &Stmt{Actor: "main", Op: &Caught{Target: "t", Signal: int(abi.SIGUSR1)},
			Expect: &Outcome{Kind: OutCount}, Overrides: map[string]*Outcome{"arm64": {Kind: OutCount, Count: 1}}}},
		{"t: read X &\nwait t", main(&Wait{Target: "t"})},
		{"uffd V register X 4p missing wp minor sigbus", main(&Uffd{Name: "V", Cmd: UffdRegister, Addr: x(0), Size: 4 * 4096,
			Missing: true, WP: true, Minor: true, SigBus: true})},
		{"uffd V register X 1p sigbus wp", main(&Uffd{Name: "V", Cmd: UffdRegister, Addr: x(0), Size: 4096, WP: true, SigBus: true})},
		{"uffd U register X+1p 1p minor", main(&Uffd{Name: "U", Cmd: UffdRegister, Addr: x(4096), Size: 4096, Minor: true})},
		{"uffd U event", main(&Uffd{Name: "U", Cmd: UffdEvent})},
		{"uffd U copy X 1p", main(&Uffd{Name: "U", Cmd: UffdCopy, Addr: x(0), Size: 4096})},
		{"uffd U copy X 1p 0x5a", main(&Uffd{Name: "U", Cmd: UffdCopy, Addr: x(0), Size: 4096, Value: Byte{Value: 0x5a}})},
		{"uffd U zeropage X 1p", main(&Uffd{Name: "U", Cmd: UffdZeropage, Addr: x(0), Size: 4096})},
		{"uffd U poison X 1p", main(&Uffd{Name: "U", Cmd: UffdPoison, Addr: x(0), Size: 4096})},
		{"uffd U continue X 1p", main(&Uffd{Name: "U", Cmd: UffdContinue, Addr: x(0), Size: 4096})},
		{"uffd U wake X 1p", main(&Uffd{Name: "U", Cmd: UffdWake, Addr: x(0), Size: 4096})},
		{"uffd U wp X 1p on", main(&Uffd{Name: "U", Cmd: UffdWP, Addr: x(0), Size: 4096, On: true})},
		{"uffd U wp X 1p off", main(&Uffd{Name: "U", Cmd: UffdWP, Addr: x(0), Size: 4096})},
		{"uffd U unregister X 4p", main(&Uffd{Name: "U", Cmd: UffdUnregister, Addr: x(0), Size: 4 * 4096})},

		// Actors and background statements.
		{"t: read X", &Stmt{Actor: "t", Op: &Read{Addr: x(0)}}},
		{"main: read X", main(&Read{Addr: x(0)})},
		{"t: write X 0x5a &", &Stmt{Actor: "t", Op: &Write{Addr: x(0), Value: Byte{Value: 0x5a}}, Background: true}},
		{"\tt:\twrite X\t&\t# tabs", &Stmt{Actor: "t", Op: &Write{Addr: x(0), Value: Byte{Value: 0x41}}, Background: true}},

		// Outcomes.
		{"read X => ok", &Stmt{Actor: "main", Op: &Read{Addr: x(0)}, Expect: &Outcome{Kind: OutOK}}},
		{"read X => ok 0xc3", &Stmt{Actor: "main", Op: &Read{Addr: x(0)}, Expect: &Outcome{Kind: OutOK, HasValue: true, Value: 0xc3}}},
		{"read X => ok ret", &Stmt{Actor: "main", Op: &Read{Addr: x(0)}, Expect: &Outcome{Kind: OutOK, HasValue: true, ValueRet: true}}},
		{"kread X 2p => ok 4096", &Stmt{Actor: "main", Op: &KRead{Addr: x(0), Size: 8192},
			Expect: &Outcome{Kind: OutOK, HasValue: true, Value: 4096}}},
		{"read X => SIGSEGV SEGV_ACCERR @X+16", &Stmt{Actor: "main", Op: &Read{Addr: x(0)},
			Expect: &Outcome{Kind: OutSignal, Signal: int(abi.SIGSEGV), Code: int(abi.SEGV_ACCERR), Addr: x(16)}}},
		{"read X => SIGBUS BUS_MCEERR_AR @X lsb=12", &Stmt{Actor: "main", Op: &Read{Addr: x(0)},
			Expect: &Outcome{Kind: OutSignal, Signal: int(abi.SIGBUS), Code: int(abi.BUS_MCEERR_AR), Addr: x(0), HasLSB: true, LSB: 12}}},
		{"read 0 => SIGSEGV SI_KERNEL @0", &Stmt{Actor: "main", Op: &Read{},
			Expect: &Outcome{Kind: OutSignal, Signal: int(abi.SIGSEGV), Code: int(abi.SI_KERNEL)}}},
		{"read X => SIGBUS BUS_ADRERR @X lsb=0", &Stmt{Actor: "main", Op: &Read{Addr: x(0)},
			Expect: &Outcome{Kind: OutSignal, Signal: int(abi.SIGBUS), Code: int(abi.BUS_ADRERR), Addr: x(0), HasLSB: true}}},
		{"madvise X 1p hwpoison => SIGBUS BUS_MCEERR_AR @X lsb=12", &Stmt{Actor: "main", Op: &Madvise{Addr: x(0), Size: 4096, Advice: AdvHWPoison},
			Expect: &Outcome{Kind: OutSignal, Signal: int(abi.SIGBUS), Code: int(abi.BUS_MCEERR_AR), Addr: x(0), HasLSB: true, LSB: 12}}},
		{"munmap X 1p => EINVAL", &Stmt{Actor: "main", Op: &Munmap{Addr: x(0), Size: 4096},
			Expect: &Outcome{Kind: OutErrno, Errno: int(abi.EINVAL)}}},
		{"memlimit 1M => killed SIGKILL", &Stmt{Actor: "main", Op: &Memlimit{Size: 1 << 20},
			Expect: &Outcome{Kind: OutKilled, Signal: int(abi.SIGKILL)}}},
		{"t: read X &\nwait t => blocked", &Stmt{Actor: "main", Op: &Wait{Target: "t"}, Expect: &Outcome{Kind: OutBlocked}}},
		{"t: uffd U event => fault X+1p write wp minor", &Stmt{Actor: "t", Op: &Uffd{Name: "U", Cmd: UffdEvent},
			Expect: &Outcome{Kind: OutFault, Addr: x(4096), FaultWrite: true, FaultWP: true, FaultMinor: true}}},
		{"uffd U event => fault X minor", &Stmt{Actor: "main", Op: &Uffd{Name: "U", Cmd: UffdEvent},
			Expect: &Outcome{Kind: OutFault, Addr: x(0), FaultMinor: true}}},
		{"kderef X => oops", &Stmt{Actor: "main", Op: &KDeref{Addr: x(0)}, Expect: &Outcome{Kind: OutOops}}},
		{"read X => livelock", &Stmt{Actor: "main", Op: &Read{Addr: x(0)}, Expect: &Outcome{Kind: OutLivelock}}},
		{"read X => ok arm64=> SIGSEGV SEGV_ACCERR @X riscv64=> killed SIGBUS", &Stmt{Actor: "main", Op: &Read{Addr: x(0)},
			Expect: &Outcome{Kind: OutOK}, Overrides: map[string]*Outcome{
				"arm64":   {Kind: OutSignal, Signal: int(abi.SIGSEGV), Code: int(abi.SEGV_ACCERR), Addr: x(0)},
				"riscv64": {Kind: OutKilled, Signal: int(abi.SIGBUS)},
			}}},
		{"read X x86_64=> ok 0", &Stmt{Actor: "main", Op: &Read{Addr: x(0)},
			Overrides: map[string]*Outcome{"x86_64": {Kind: OutOK, HasValue: true}}}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			s := mustParse(t, prelude+tt.src+"\n")
			got := stripPositions(s).Body[len(s.Body)-1]
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got:\n%s\nwant:\n%s", dump(got), dump(tt.want))
			}
			checkRoundTrip(t, mustParse(t, prelude+tt.src+"\n"))
		})
	}
}

func TestHeader(t *testing.T) {
	src := `# leading comment

scenario a.b_c-9
mmap X 1p rw private anon
needs uffd uffd-wp hugetlb
config thp=never swap=1G memory_failure=n stack_guard_gap=0x10 kernel=6.1
about "free # text, with => and & and 'quotes' and ünïcödé"
arch loongarch64 s390x ppc64le
read X
`
	s := mustParse(t, src)
	want := &Scenario{
		Pos:    Pos{"t.fault", 3, 1},
		Name:   "a.b_c-9",
		About:  "free # text, with => and & and 'quotes' and ünïcödé",
		Arches: []string{"loongarch64", "s390x", "ppc64le"},
		Needs:  []string{"uffd", "uffd-wp", "hugetlb"},
		Config: []ConfigPin{
			{Pos{"t.fault", 6, 8}, "thp", "never"},
			{Pos{"t.fault", 6, 18}, "swap", "1G"},
			{Pos{"t.fault", 6, 26}, "memory_failure", "n"},
			{Pos{"t.fault", 6, 43}, "stack_guard_gap", "0x10"},
			{Pos{"t.fault", 6, 64}, "kernel", "6.1"},
		},
		Lines: 9,
	}
	got := *s
	got.Body = nil
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("header:\ngot:\n%s\nwant:\n%s", dump(&got), dump(want))
	}
	if len(s.Body) != 2 {
		t.Errorf("body has %d statements, want 2", len(s.Body))
	}
	checkRoundTrip(t, s)
}

func TestMinimal(t *testing.T) {
	s := mustParse(t, "scenario x")
	if s.Name != "x" || s.Arches != nil || s.Needs != nil || s.Config != nil || s.Body != nil || s.Lines != 1 {
		t.Errorf("minimal scenario: %s", dump(s))
	}
	if got, want := string(Format(s)), "scenario x\n"; got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
}

// TestPositions checks every position the tree records, and Stmt.Text.
func TestPositions(t *testing.T) {
	src := "scenario p\r\n" +
		"thread t\r\n" +
		"  mmap X 1p rw private anon at=0x10000   # comment\r\n" +
		"\tt: write  X+8 0x5a  =>  SIGSEGV SEGV_ACCERR @X+8 arm64=> ok\n" +
		"\n" +
		"# done"
	s := mustParse(t, src)
	if s.Lines != 6 {
		t.Errorf("Lines = %d, want 6", s.Lines)
	}
	if want := (Pos{"t.fault", 1, 1}); s.Pos != want {
		t.Errorf("Scenario.Pos = %v, want %v", s.Pos, want)
	}
	mm, wr := s.Body[1], s.Body[2]
	checks := []struct {
		what     string
		got, pos Pos
	}{
		{"mmap Stmt.Pos", mm.Pos, Pos{"t.fault", 3, 3}},
		{"mmap at= Addr.Pos", mm.Op.(*Mmap).At.Pos, Pos{"t.fault", 3, 32}},
		{"write Stmt.Pos", wr.Pos, Pos{"t.fault", 4, 2}},
		{"write Addr.Pos", wr.Op.(*Write).Addr.Pos, Pos{"t.fault", 4, 12}},
		{"Outcome.Pos", wr.Expect.Pos, Pos{"t.fault", 4, 26}},
		{"outcome Addr.Pos", wr.Expect.Addr.Pos, Pos{"t.fault", 4, 47}},
		{"override Outcome.Pos", wr.Overrides["arm64"].Pos, Pos{"t.fault", 4, 59}},
	}
	for _, c := range checks {
		if c.got != c.pos {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.pos)
		}
	}
	if want := "mmap X 1p rw private anon at=0x10000"; mm.Text != want {
		t.Errorf("mmap Text = %q, want %q", mm.Text, want)
	}
	if want := "t: write  X+8 0x5a  =>  SIGSEGV SEGV_ACCERR @X+8 arm64=> ok"; wr.Text != want {
		t.Errorf("write Text = %q, want %q", wr.Text, want)
	}
}

// TestErrors checks one invalid input per rule. Each source has exactly
// one error; want is its exact "file:line:col: " position followed by a
// phrase the message must contain.
func TestErrors(t *testing.T) {
	const p = prelude // lines 1-5; the statement under test is on line 6
	tests := []struct {
		name, src, pos, phrase string
	}{
		// Lexical.
		{"unterminated string", p + `about "free text`, "6:7", `unterminated string`},
		{"glued quote", p + `about "a"b`, "6:10", `expected a space after the closing quote, found "b"`},
		{"invalid UTF-8", p + "read X \xff", "6:8", "invalid UTF-8 (byte 0xff)"},
		{"control character", p + "read\x01 X", "6:5", "control character U+0001"},
		{"C1 control character", p + "read X # \u0085", "6:10", "control character U+0085"},
		{"carriage return", p + "read X\r read X", "6:7", "carriage return"},
		{"NUL", p + "\x00", "6:1", "control character U+0000"},

		// Header.
		{"empty file", "", "1:1", `missing scenario statement`},
		{"comments only", "# nothing\n\n  # here\n", "1:1", `missing scenario statement`},
		{"first statement not scenario", "mmap X 1p rw private anon\nscenario x\nread X", "1:1",
			`expected "scenario NAME" as the first statement, found "mmap"`},
		{"header before scenario", "arch x86_64\nscenario x", "1:1", `expected "scenario NAME" as the first statement, found "arch"`},
		{"second scenario", p + "scenario again", "6:1", `duplicate scenario statement (the first is on line 1)`},
		{"bad scenario name", "scenario Foo", "1:10", `expected a scenario name matching [a-z0-9][a-z0-9._-]*, found "Foo"`},
		{"scenario name missing", "scenario", "1:9", `expected a scenario name matching [a-z0-9][a-z0-9._-]*, found end of line`},
		{"scenario extra word", "scenario a b", "1:12", `expected end of statement, found "b"`},
		{"about unquoted", p + "about hello", "6:7", `expected a double-quoted string (like "what this scenario shows"), found "hello"`},
		{"duplicate about", p + "about \"a\"\nabout \"b\"", "7:1", `duplicate about statement (the first is on line 6)`},
		{"unknown arch", p + "arch x86_64 sparc", "6:13", `unknown architecture "sparc" (expected one of: x86_64, arm64`},
		{"duplicate arch", p + "arch arm64 arm64", "6:12", `duplicate "arm64"`},
		{"arch empty", p + "arch", "6:5", `expected an architecture (x86_64, arm64, riscv64, ppc64le, s390x, loongarch64), found end of line`},
		{"duplicate arch statement", p + "arch arm64\narch x86_64", "7:1", `duplicate arch statement (the first is on line 6)`},
		{"unknown need", p + "needs uffd telepathy", "6:12", `unknown host feature "telepathy" (expected one of: uffd, uffd-poison`},
		{"read value above a byte", p + "read X => ok 256", "6:14", `expected a byte value after ok (0 to 255, or ret), found 256`},
		{"bad config value", p + "config thp=sometimes", "6:12", `expected always|madvise|never for thp, found "sometimes"`},
		{"bad config number", p + "config stack_guard_gap=lots", "6:24", `expected a number of pages for stack_guard_gap, found "lots"`},
		{"bad kernel version", p + "config kernel=6.18.44", "6:15", `expected a kernel version MAJOR.MINOR (as 6.18) for kernel, found "6.18.44"`},
		{"unknown config key", p + "config colour=blue", "6:8", `unknown config key "colour" (known: `},
		{"config without =", p + "config thp", "6:8", `expected KEY=VALUE (like thp=never), found "thp"`},
		{"duplicate config key", p + "config thp=never thp=always", "6:18", `duplicate config key "thp"`},
		{"header with actor", p + "t: arch x86_64", "6:1", `arch is a header statement: it takes no actor prefix`},
		{"header with expectation", p + "needs uffd => ok", "6:12", `needs is a header statement: it takes no expectation`},
		{"header in background", p + "arch x86_64 &", "6:13", `arch is a header statement: it cannot run in the background`},

		// Statements and operands.
		{"unknown keyword", p + "foo X", "6:1", `unknown statement "foo" (expected one of: mmap, munmap, mprotect,`},
		{"quoted keyword", p + `"read" X`, "6:1", `unknown statement "\"read\""`},
		{"glued actor", p + "t:read X", "6:1", `unknown statement "t:read"`},
		{"actor prefix alone", p + "t:", "6:3", `expected a statement after "t:", found end of line`},
		{"arrow alone", p + "=> ok", "6:1", `expected a statement, found "=>"`},
		{"bad number", p + "hugepages 12z", "6:11", `expected a number of huge pages (like 4), found "12z"`},
		{"number too large", p + "hugepages 18446744073709551616", "6:11", `which does not fit in 64 bits`},
		{"empty hex", p + "hugepages 0x", "6:11", `expected a number of huge pages (like 4), found "0x"`},
		{"bad size", p + "munmap X abc", "6:10", `expected a size (like 4096, 0x1000 or 3p), found "abc"`},
		{"size unit only", p + "munmap X p", "6:10", `expected a size (like 4096, 0x1000 or 3p), found "p"`},
		{"size too large", p + "munmap X 0x400000000G", "6:10", `which does not fit in 64 bits`},
		{"negative size", p + "memlimit -1", "6:10", `expected a size (like 4096, 0x1000 or 3p), found "-1"`},
		{"missing size", p + "munmap X", "6:9", `expected a size (like 4096, 0x1000 or 3p), found end of line`},
		{"missing size before arrow", p + "munmap X => ok", "6:10", `expected a size (like 4096, 0x1000 or 3p), found "=>"`},
		{"bad PROT order", p + "mprotect X 1p wr", "6:15", `expected a protection (none, or letters of rwx in that order`},
		{"bad PROT letter", p + "mmap Y 1p rwz private anon", "6:11", `expected a protection`},
		{"empty mmap name", p + "mmap 1p 1p r private anon", "6:6", `expected a region name (a letter or _, then letters, digits or _), found "1p"`},
		{"duplicate flag", p + "mmap Y 1p rw private anon populate populate", "6:36", `duplicate mmap flag "populate"`},
		{"duplicate file=", p + "mmap Y 1p rw private file=F file=F", "6:29", `duplicate mmap flag "file="`},
		{"private and shared", p + "mmap Y 1p rw private shared anon", "6:22", `mmap flags private and shared conflict`},
		{"missing private/shared", p + "mmap Y 1p rw anon", "6:18", `expected the mmap flag private or shared, found end of line`},
		{"missing anon/file", p + "mmap Y 1p rw shared locked => ok", "6:28", `expected the mmap flag anon or file=FILE, found "=>"`},
		{"anon and file", p + "mmap Y 1p rw private anon file=F", "6:27", `mmap flags "anon" and "file=F" conflict`},
		{"off= without file=", p + "mmap Y 1p rw private off=1p anon", "6:22", `off=SIZE is the offset in a file: it needs file=FILE`},
		{"bad off=", p + "mmap Y 1p rw private file=F off=x", "6:33", `expected a size (like 4096, 0x1000 or 3p) after off=, found "x"`},
		{"unknown file in mmap", p + "mmap Y 1p rw private file=G", "6:27", `unknown file "G"`},
		{"unknown mmap flag", p + "mmap Y 1p rw private anon fixed", "6:27", `unknown mmap flag "fixed" (expected private, shared, anon`},
		{"madvise bad advice", p + "madvise X 1p willneed", "6:14", `expected dontneed, populate_read, populate_write, guard_install, guard_remove, random or hwpoison, found "willneed"`},
		{"touch exec", p + "touch X 1p exec", "6:12", `expected read or write, found "exec"`},
		{"rlimit resource", p + "rlimit nofile 10", "6:8", `expected a resource (stack, the only one so far), found "nofile"`},
		{"truncate unknown file", p + "truncate G 0", "6:10", `unknown file "G" (no earlier "file G SIZE" defines it)`},
		{"file fill", p + "file G 1p 0", "6:11", `expected fill=BYTE or end of statement, found "0"`},
		{"byte too large", p + "write X 256", "6:9", `expected a byte value (0 to 255, or ret), found "256"`},
		{"fill too large", p + "file G 1p fill=0x100", "6:16", `expected a byte value (0 to 255, or ret), found "0x100"`},
		{"extra operand", p + "read X Y", "6:8", `expected end of statement, found "Y" (the form is "read ADDR")`},
		{"kderef flag", p + "kderef X read", "6:10", `expected write, found "read"`},

		// Addresses and regions.
		{"unknown region", p + "read Z+1p", "6:6", `unknown region "Z" (no earlier mmap binds it)`},
		{"unknown region in at=", p + "mmap Y 1p rw private anon at=Z", "6:30", `unknown region "Z"`},
		{"region used on its own mmap line", p + "mmap Y 1p rw private anon at=Y+1p", "6:30", `unknown region "Y"`},
		{"unknown region in outcome", p + "read X => SIGSEGV SEGV_MAPERR @Z", "6:32", `unknown region "Z"`},
		{"bad address term", p + "read X+abc", "6:8", `expected a size (like 4096, 0x1000 or 3p) after '+', found "abc"`},
		{"empty address term", p + "read X+1p-", "6:11", `expected a size (like 4096, 0x1000 or 3p) after '-', found ""`},
		{"address is a size", p + "read 3p", "6:6", `expected an address (NAME, NAME+SIZE, NAME-SIZE or a number), found "3p"`},
		{"address starts with sign", p + "read +1p", "6:6", `expected an address (NAME, NAME+SIZE, NAME-SIZE or a number), found "+1p"`},

		// Actors.
		{"unknown actor prefix", p + "u: read X", "6:1", `unknown actor "u" (create it first with "thread u" or "fork u")`},
		{"bad actor prefix", p + "1t: read X", "6:1", `expected an actor name (a letter or _, then letters, digits or _) before ":", found "1t"`},
		{"unknown kill target", p + "kill u SIGUSR1", "6:6", `unknown actor "u"`},
		{"unknown caught target", p + "caught u SIGUSR1 => 1", "6:8", `unknown actor "u"`},
		{"unknown wait target", p + "wait u", "6:6", `unknown actor "u"`},
		{"actor used before thread", p + "u: read X\nthread u", "6:1", `unknown actor "u"`},
		{"thread exists", p + "thread t", "6:8", `actor "t" already exists`},
		{"fork main", p + "fork main", "6:6", `actor "main" already exists`},
		{"bad thread name", p + "thread 9x", "6:8", `expected a new actor name (a letter or _, then letters, digits or _), found "9x"`},
		{"unknown signal", p + "kill t SIGFOO", "6:8", `unknown signal "SIGFOO" (expected a signal name (like SIGSEGV))`},
		{"lower-case signal", p + "kill t sigusr1", "6:8", `expected a signal name (like SIGSEGV), found "sigusr1"`},
		{"catch SIGKILL", p + "sigaction SIGKILL catch", "6:19", `SIGKILL cannot be caught or ignored`},
		{"ignore SIGSTOP", p + "sigaction SIGSTOP ignore", "6:19", `SIGSTOP cannot be caught or ignored`},
		{"bad sigaction", p + "sigaction SIGUSR1 handle", "6:19", `expected catch, ignore or default, found "handle"`},

		// Background statements.
		{"wait with nothing pending", p + "wait t", "6:6", `actor t has no pending background statement to wait for`},
		{"wait twice", p + "t: read X &\nwait t\nwait t", "8:6", `actor t has no pending background statement`},
		{"statement while background pending", p + "t: read X &\nt: read X", "7:1",
			`actor t still has a background statement pending (line 6): it can run nothing else until another actor runs "wait t"`},
		{"main while background pending", p + "write X &\nread X", "7:1", `actor main still has a background statement pending (line 6)`},
		{"actor waits for itself", p + "t: read X &\nt: wait t", "7:1", `actor t still has a background statement pending (line 6)`},
		{"background with expectation", p + "t: read X => ok &", "6:11", `a background statement cannot carry an expectation: check its outcome with "wait t => OUTCOME"`},
		{"background before expectation", p + "t: read X & => ok", "6:13", `a background statement cannot carry an expectation`},
		{"wait in background", p + "t: read X &\nwait t &", "7:8", `wait cannot run in the background`},

		// userfaultfd.
		{"unknown uffd", p + "uffd V copy X 1p", "6:6", `unknown userfaultfd "V" (create it first with "uffd V register ADDR SIZE MODE...")`},
		{"uffd without mode", p + "uffd V register X 1p", "6:21", `expected a userfaultfd mode (missing, wp or minor), found end of line`},
		{"uffd sigbus only", p + "uffd V register X 1p sigbus", "6:28", `expected a userfaultfd mode (missing, wp or minor), found end of line`},
		{"uffd duplicate mode", p + "uffd V register X 1p wp wp", "6:25", `duplicate "wp"`},
		{"uffd bad mode", p + "uffd V register X 1p all", "6:22", `expected a userfaultfd mode (missing, wp or minor) or sigbus, found "all"`},
		{"uffd bad command", p + "uffd U read X 1p", "6:8", `unknown userfaultfd command "read" (expected register, event, copy,`},
		{"uffd no command", p + "uffd U", "6:7", `expected a userfaultfd command (register, event, copy`},
		{"uffd event operand", p + "uffd U event X", "6:14", `expected end of statement, found "X" (the form is "uffd U event")`},
		{"uffd wp on/off", p + "uffd U wp X 1p yes", "6:16", `expected on or off, found "yes"`},

		// Expectations.
		{"unknown outcome", p + "read X => fine", "6:11", `expected an outcome (ok, ok VALUE, SIGNAME CODE @ADDR, ERRNO, killed SIGNAME, blocked, fault ADDR, oops or livelock), found "fine"`},
		{"bare number outcome", p + "read X => 3", "6:11", `expected an outcome (ok, ok VALUE,`},
		{"missing outcome", p + "read X =>", "6:10", `expected an outcome (ok, ok VALUE, SIGNAME CODE @ADDR, ERRNO, killed SIGNAME, blocked, fault ADDR, oops or livelock) after "=>", found end of line`},
		{"missing override outcome", p + "read X => ok arm64=> x86_64=> ok", "6:22", `after "arm64=>", found "x86_64=>"`},
		{"glued arrow", p + "read X =>ok", "6:10", `expected a space after "=>", found "=>ok"`},
		{"glued override", p + "read X => ok arm64=>ok", "6:21", `expected a space after "=>", found "arm64=>ok"`},
		{"ok bad value", p + "read X => ok yes", "6:14", `expected a value after ok (a number, or ret), found "yes"`},
		{"ok extra", p + "read X => ok 1 2", "6:16", `expected end of statement, found "2" (the form is "ok [VALUE]")`},
		{"unknown errno", p + "read X => EWHAT", "6:11", `unknown errno "EWHAT"`},
		{"killed bad signal", p + "read X => killed 9", "6:18", `expected a signal name (like SIGSEGV), found "9"`},
		{"blocked extra", p + "read X => blocked now", "6:19", `expected end of statement, found "now"`},
		{"bad code for signal", p + "read X => SIGBUS SEGV_MAPERR @X", "6:18", `si_code SEGV_MAPERR belongs to SIGSEGV, not SIGBUS`},
		{"code for a signal without codes", p + "read X => SIGILL BUS_ADRERR @X", "6:18", `si_code BUS_ADRERR belongs to SIGBUS, not SIGILL`},
		{"unknown code", p + "read X => SIGSEGV SEGV_WHAT @X", "6:19", `expected an si_code name (like SEGV_MAPERR, BUS_ADRERR or SI_KERNEL), found "SEGV_WHAT"`},
		{"unknown signal outcome", p + "read X => SIGWHAT SEGV_MAPERR @X", "6:11", `unknown signal "SIGWHAT"`},
		{"missing code", p + "read X => SIGSEGV", "6:18", `expected an si_code name (like SEGV_MAPERR, BUS_ADRERR or SI_KERNEL), found end of line`},
		{"missing @", p + "read X => SIGSEGV SEGV_MAPERR X", "6:31", `expected @ADDR (the si_addr, like @X+16), found "X"`},
		{"missing address", p + "read X => SIGSEGV SEGV_MAPERR", "6:30", `expected @ADDR (the si_addr, like @X+16), found end of line`},
		{"@ with space", p + "read X => SIGSEGV SEGV_MAPERR @ X", "6:32", `expected an address right after "@" (no space), found "X"`},
		{"lsb too large", p + "read X => SIGBUS BUS_MCEERR_AR @X lsb=64", "6:39", `expected a number from 0 to 63 after lsb=, found "64"`},
		{"lsb garbage", p + "read X => SIGBUS BUS_MCEERR_AR @X 12", "6:35", `expected lsb=N (si_addr_lsb, 0 to 63) or end of outcome, found "12"`},
		{"fault unaligned", p + "uffd U event => fault X+16", "6:23", `a fault event's address is page-aligned`},
		{"fault duplicate flag", p + "uffd U event => fault X write write", "6:31", `duplicate "write"`},
		{"fault bad flag", p + "uffd U event => fault X read", "6:25", `expected write, wp, minor or end of outcome, found "read"`},
		{"caught without count", p + "caught t SIGUSR1", "6:17", `expected "=> N" (the number of times the handler ran), found end of line`},
		{"caught with override only", p + "caught t SIGUSR1 arm64=> 1", "6:18", `expected "=> N" (the number of times the handler ran), found "arm64=>"`},
		{"caught with outcome", p + "caught t SIGUSR1 => ok", "6:21", `expected a count (the number of times the handler ran, like 1), found "ok"`},
		{"caught override not a count", p + "caught t SIGUSR1 => 1 arm64=> EINTR", "6:31", `expected a count`},
		{"duplicate override", p + "read X => ok arm64=> ok arm64=> EFAULT", "6:25", `duplicate override for arm64`},
		{"unknown override arch", p + "read X => ok sparc=> ok", "6:14", `unknown architecture "sparc" in override (expected one of: x86_64, arm64`},
		{"main after override", p + "read X arm64=> ok => ok", "6:19", `the main expectation "=> OUTCOME" must come before the ARCH=> overrides`},
		{"duplicate main expectation", p + "read X => ok => EFAULT", "6:14", `duplicate expectation`},

		// Outcomes a statement can never have.
		{"errno of a user access", p + "read X => EFAULT", "6:11", `read is a user access: it ends in ok, a signal (SIGNAME CODE @ADDR), killed or blocked, never an errno (found EFAULT)`},
		{"errno of a user access, overridden", p + "touch X 1p write => ok arm64=> EINTR", "6:32", `touch is a user access`},
		{"signal of a system call", p + "kread X 1p => SIGSEGV SEGV_MAPERR @X", "6:15", `only a user access (read, write, exec, touch) or madvise hwpoison raises a signal as its outcome; kread does not`},
		{"signal of madvise other than hwpoison", p + "madvise X 1p dontneed => SIGBUS BUS_MCEERR_AR @X lsb=12", "6:26", `madvise does not`},
		{"fault event of a read", p + "read X => fault X", "6:11", `only "uffd U event" reads a fault event; read does not`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := parseErrors(t, tt.src)
			got := errs[0].Error()
			if want := "t.fault:" + tt.pos + ": "; !strings.HasPrefix(got, want) || !strings.Contains(got, tt.phrase) {
				t.Errorf("error:\n%s\nwant it to start with %q and contain %q", got, want, tt.phrase)
			}
			if len(errs) != 1 {
				t.Errorf("%d errors, want 1:\n%v", len(errs), errs)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	_, err := Parse("dir/a.fault", []byte("scenario a\nmunmap 0 abc\nfoo\n"))
	want := "dir/a.fault:2:10: expected a size (like 4096, 0x1000 or 3p), found \"abc\"\n" +
		"dir/a.fault:3:1: unknown statement \"foo\" (expected one of: mmap, munmap, mprotect, madvise, file, truncate, " +
		"rlimit, memlimit, hugepages, read, write, exec, touch, kread, kwrite, kderef, thread, fork, sigaction, kill, " +
		"caught, wait, uffd, faults, evict, io, scenario, about, arch, needs, config)"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}

	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("errors.As(ErrorList) = %v, %d errors", errors.As(err, &list), len(list))
	}
	var first *Error
	if !errors.As(err, &first) || first != list[0] {
		t.Errorf("errors.As(*Error) did not find the first error")
	}
	if want := (Pos{"dir/a.fault", 2, 10}); first.Pos != want || !strings.HasPrefix(first.Msg, "expected a size") {
		t.Errorf("first error = %+v", first)
	}
}

// TestErrorRecovery checks that a bad line reports one error, that later
// lines are still checked, and that a name a bad line defines does not
// cause knock-on errors.
func TestErrorRecovery(t *testing.T) {
	src := prelude +
		"mmap Y 1p rwz private anon\n" + // 6: bad PROT, but Y is bound
		"read Y => bogus => bogus\n" + // 7: one error for the line, not two
		"thread u extra\n" + // 8: extra word, but u exists
		"u: read Y\n" + // 9: fine
		"u: read Y &\n" + // 10: fine, u pending
		"u: read Y\n" + // 11: u is busy
		"wait u => ok\n" + // 12: fine
		"file G x\n" + // 13: bad size, but G is defined
		"mmap Z 1p r private file=G\n" + // 14: fine
		"uffd V register X 1p bogus\n" + // 15: bad mode, but V exists
		"uffd V wake X 1p\n" + // 16: fine
		"v: read X &\n" + // 17: unknown actor
		"wait v\n" // 18: unknown actor again: the line is still wrong
	errs := parseErrors(t, src)
	var lines []int
	for _, e := range errs {
		lines = append(lines, e.Pos.Line)
	}
	if want := []int{6, 7, 8, 11, 13, 15, 17, 18}; !reflect.DeepEqual(lines, want) {
		t.Errorf("errors on lines %v, want %v:\n%v", lines, want, errs)
	}
	if !strings.Contains(errs[1].Msg, `"bogus"`) {
		t.Errorf("line 7 error: %v", errs[1])
	}
}

func TestBackgroundRecovery(t *testing.T) {
	// A background line with an error still leaves its actor pending, so
	// the wait that follows is not a second error.
	for _, line := range []string{"t: read X => ok &", "t: read X & => ok", "t: bogus &", "t: read Z &"} {
		errs := parseErrors(t, prelude+line+"\nwait t => ok\n")
		if len(errs) != 1 || errs[0].Pos.Line != 6 {
			t.Errorf("%q: errors:\n%v", line, errs)
		}
	}
}

// TestWaitMayLeavePending: a wait that may find its statement still in
// flight on some arch or handler lets both a later wait and statements of
// the actor follow; one that finishes it everywhere does not, and one
// expecting blocked everywhere keeps the actor busy.
func TestWaitMayLeavePending(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		errLine    int // 0: parses
	}{
		{"livelock then statements and a wait", "t: read X &\nwait t => livelock\nt: read X => livelock\nwait t => killed SIGKILL\n", 0},
		{"livelock on one arch", "t: read X &\nwait t => killed SIGKILL   riscv64=> livelock\nwait t => killed SIGKILL\n", 0},
		{"blocked under the generic handler only", "t: read X &\nwait t => ok   generic=> blocked\nt: read X\n", 0},
		{"finished everywhere", "t: read X &\nwait t => killed SIGKILL\nwait t\n", 8},
		{"blocked everywhere keeps t busy", "t: read X &\nwait t => blocked\nt: read X\n", 8},
	} {
		if tc.errLine == 0 {
			checkRoundTrip(t, mustParse(t, prelude+tc.body))
			continue
		}
		if errs := parseErrors(t, prelude+tc.body); len(errs) != 1 || errs[0].Pos.Line != tc.errLine {
			t.Errorf("%s: errors %v, want one on line %d", tc.name, errs, tc.errLine)
		}
	}
}

func TestFirstStatementRecovery(t *testing.T) {
	// A misspelt scenario line is reported once; the regions of the body
	// are still known.
	errs := parseErrors(t, "scenaro x\nmmap X 1p r private anon\nread X\n")
	if len(errs) != 1 || errs[0].Pos.Line != 1 {
		t.Errorf("errors: %v", errs)
	}
	// A first line that is not scenario but defines something: no
	// knock-on errors either.
	errs = parseErrors(t, "mmap X 1p r private anon\nread X\n")
	if len(errs) != 1 || errs[0].Pos.Line != 1 {
		t.Errorf("errors: %v", errs)
	}
	// A scenario statement out of place is reported once, on the line
	// that should have been it.
	errs = parseErrors(t, "# c\nmmap X 1p r private anon\nscenario x\nscenario y\n")
	if len(errs) != 2 || errs[0].Pos.Line != 2 || !strings.Contains(errs[1].Msg, "duplicate scenario statement (the first is on line 3)") {
		t.Errorf("errors: %v", errs)
	}
	// A header line with an error is still the one header of its kind.
	errs = parseErrors(t, "scenario x => ok\nscenario x\n")
	if len(errs) != 2 || !strings.Contains(errs[1].Msg, "duplicate scenario") {
		t.Errorf("errors: %v", errs)
	}
	// A bad character on line 1 before a good scenario statement.
	errs = parseErrors(t, "# \x01\nscenario x\n")
	if len(errs) != 1 || errs[0].Pos != (Pos{"t.fault", 1, 3}) {
		t.Errorf("errors: %v", errs)
	}
	// A bad character in a comment does not hide what the line defines.
	errs = parseErrors(t, "scenario x # \x01\nmmap X 1p r private anon # \xff\nread X\n")
	if len(errs) != 2 || errs[0].Pos.Line != 1 || errs[1].Pos.Line != 2 {
		t.Errorf("errors: %v", errs)
	}
}

func TestErrorLimit(t *testing.T) {
	src := "scenario x\n" + strings.Repeat("bogus\n", 50)
	errs := parseErrors(t, src)
	if len(errs) != maxErrors {
		t.Errorf("%d errors, want %d", len(errs), maxErrors)
	}
	for i, e := range errs {
		if e.Pos.Line != i+2 {
			t.Errorf("error %d on line %d, want %d", i, e.Pos.Line, i+2)
		}
	}
}

func TestLineEndings(t *testing.T) {
	for _, src := range []string{
		"scenario x\nmmap X 1p r private anon\nread X => ok\n",
		"scenario x\r\nmmap X 1p r private anon\r\nread X => ok\r\n",
		"scenario x\r\nmmap X 1p r private anon\nread X => ok",
	} {
		s := mustParse(t, src)
		if s.Lines != 3 || len(s.Body) != 2 || s.Body[1].Text != "read X => ok" {
			t.Errorf("%q: %s", src, dump(s))
		}
	}
	s := mustParse(t, "scenario x\n\n\n")
	if s.Lines != 3 {
		t.Errorf("Lines = %d, want 3", s.Lines)
	}
}

// TestLarge checks that inputs at the limits parse: a file of MaxFileSize
// bytes holding MaxStatements statements, a line of MaxLineLen bytes with
// as many address terms as fit, a line of every override
// (BenchmarkParseLarge measures the speed).
func TestLarge(t *testing.T) {
	big := largeSource()
	if len(big) != MaxFileSize {
		t.Fatalf("the source is %d bytes, want %d", len(big), MaxFileSize)
	}
	if s := mustParse(t, big); len(s.Body) != MaxStatements {
		t.Errorf("%d statements, want %d", len(s.Body), MaxStatements)
	}
	mustParse(t, longSource())
	wide := "scenario wide\nmmap X 1p rw private anon\nread X => ok" + strings.Repeat(" arm64=> ok", 100) + "\n"
	parseErrors(t, wide) // duplicate overrides
}

// largeSource is a file of exactly MaxFileSize bytes with MaxStatements
// statements, padded with a comment.
func largeSource() string {
	var b strings.Builder
	b.WriteString("scenario big\nthread t\n")
	stmts := []string{"mmap X 4p rw private anon at=0x10000\n", "t: write X+1p 0x5a &\n", "wait t => ok\n",
		"read X-16+1p => SIGSEGV SEGV_MAPERR @X-16+1p arm64=> ok 0\n", "munmap X 4p\n"}
	for i := 1; i < MaxStatements; i++ {
		b.WriteString(stmts[(i-1)%len(stmts)])
	}
	for left := MaxFileSize - b.Len(); left > 0; left = MaxFileSize - b.Len() {
		n := min(left, MaxLineLen+1) // a line and its newline
		if left-n == 1 {
			n-- // leave room for one more line of two bytes
		}
		b.WriteString("#" + strings.Repeat("x", n-2) + "\n")
	}
	return b.String()
}

// longSource has a line of exactly MaxLineLen bytes: an address of
// about two thousand terms.
func longSource() string {
	line := "read X"
	for len(line)+2 <= MaxLineLen {
		line += "+1"
	}
	return "scenario long\nmmap X 1p rw private anon\n" + line + "\n"
}

// BenchmarkParseLarge parses a file at the size and statement limits and
// a line at the length limit: the parser is linear in its input.
func BenchmarkParseLarge(b *testing.B) {
	big, long := []byte(largeSource()), []byte(longSource())
	b.SetBytes(int64(len(big) + len(long)))
	for b.Loop() {
		if _, err := Parse("big.fault", big); err != nil {
			b.Fatal(err)
		}
		if _, err := Parse("long.fault", long); err != nil {
			b.Fatal(err)
		}
	}
}

// TestExtensionsIssue4 covers the statements added for fault statistics
// and the page cache: faults, evict and io.
func TestExtensionsIssue4(t *testing.T) {
	s, err := Parse("x.fault", []byte(`scenario x
file F 2p
thread t
faults t
t: faults t => minflt=3 majflt=0x1
faults t => majflt=2 minflt=4
evict F
io F hold
io F release
`))
	if err != nil {
		t.Fatal(err)
	}
	f := s.Body[2].Op.(*Faults)
	if f.Target != "t" || s.Body[2].Expect != nil {
		t.Errorf("faults: %+v %+v", f, s.Body[2].Expect)
	}
	if o := s.Body[3].Expect; o == nil || o.Kind != OutFaults || o.Minflt != 3 || o.Majflt != 1 {
		t.Errorf("faults outcome: %+v", o)
	}
	if o := s.Body[4].Expect; o == nil || !o.HasMinflt || !o.HasMajflt || o.Majflt != 2 || o.Minflt != 4 {
		t.Errorf("faults outcome with majflt first: %+v", o)
	}
	if e := s.Body[5].Op.(*Evict); e.Name != "F" {
		t.Errorf("evict: %+v", e)
	}
	if h, r := s.Body[6].Op.(*IO), s.Body[7].Op.(*IO); !h.Hold || r.Hold || h.Name != "F" {
		t.Errorf("io: %+v %+v", h, r)
	}
	checkRoundTrip(t, s)
	for _, tc := range []struct{ src, want string }{
		{"faults nobody", "2:8: unknown actor"},
		{"faults main => 3", "2:16: expected minflt=N or majflt=N"},
		{"faults main => minflt=1 3", "2:25: expected end of statement"},
		{"faults main => majflt=1 majflt=1", "2:25: expected end of statement"},
		{"faults main => minflt=1 majflt=x", "2:32: expected a fault count"},
		{"faults main => ok", "2:16: expected minflt=N or majflt=N"},
		{"faults main &", "2:13: faults cannot run in the background"},
		{"evict G", "2:7: unknown file"},
		{"io G hold", "2:4: unknown file"},
		{"file G 1p\nio G stop", "3:6: expected hold or release"},
	} {
		_, err := Parse("e.fault", []byte("scenario e\n"+tc.src+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.src, err, tc.want)
		}
	}
}

// TestWaitBlockedKeepsPending: "wait T => blocked" leaves the statement
// pending, so a later wait collects it; any other wait consumes it.
func TestWaitBlockedKeepsPending(t *testing.T) {
	ok := "scenario w\nthread t\nt: read 0 &\nwait t => blocked\nwait t => blocked\nwait t => ok\n"
	if _, err := Parse("w.fault", []byte(ok)); err != nil {
		t.Fatal(err)
	}
	bad := "scenario w\nthread t\nt: read 0 &\nwait t => ok\nwait t => ok\n"
	if _, err := Parse("w.fault", []byte(bad)); err == nil || !strings.Contains(err.Error(), "5:6: actor t has no pending") {
		t.Fatalf("a second wait after a consuming one: %v", err)
	}
	busy := "scenario w\nthread t\nt: read 0 &\nwait t => blocked\nt: read 0\n"
	if _, err := Parse("w.fault", []byte(busy)); err == nil || !strings.Contains(err.Error(), "still has a background statement pending") {
		t.Fatalf("a statement while the wait left it pending: %v", err)
	}
}

// TestPageUnit: pg is a base page of the size the scenario is read for,
// in sizes and address offsets alike; p stays 4096 bytes; a scenario
// read again for another page size (ForPageSize) follows it.
func TestPageUnit(t *testing.T) {
	src := []byte("scenario u\nmmap A 2pg rw private anon\nread A+1pg\nread A+1p\n")
	for _, tc := range []struct {
		pageSize uint64
		want     [3]uint64 // the mmap's size, the offsets of the reads
	}{
		{4096, [3]uint64{8192, 4096, 4096}},
		{16 << 10, [3]uint64{32 << 10, 16 << 10, 4096}},
		{64 << 10, [3]uint64{128 << 10, 64 << 10, 4096}},
	} {
		for _, how := range []string{"parsed", "read again"} {
			s, err := ParsePageSize("u.fault", src, tc.pageSize)
			if how == "read again" {
				if s, err = Parse("u.fault", src); err == nil {
					s, err = s.ForPageSize(tc.pageSize)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			got := [3]uint64{s.Body[0].Op.(*Mmap).Size, s.Body[1].Op.(*Read).Addr.Offset, s.Body[2].Op.(*Read).Addr.Offset}
			if got != tc.want || !s.UsesPageUnit() {
				t.Errorf("%d-byte pages, %s: sizes %v, want %v (uses pg: %v)", tc.pageSize, how, got, tc.want, s.UsesPageUnit())
			}
		}
	}
	s, err := Parse("v.fault", []byte("scenario v\nmmap A 2p rw private anon\n"))
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.ForPageSize(64 << 10); again != s || s.UsesPageUnit() {
		t.Error("a scenario without pg is read again for another page size")
	}
	for _, bad := range []string{"pg", "0xpg", "1pgg", "-1pg"} {
		if _, err := Parse("w.fault", []byte("scenario w\nmmap A "+bad+" rw private anon\n")); err == nil {
			t.Errorf("size %q accepted", bad)
		}
	}
}

// TestPageSizePinArch: a page_size the scenario's arches do not all have
// is an error at the pin's value; one they have, or a scenario for every
// arch (refused when it runs on an arch without it), parses.
func TestPageSizePinArch(t *testing.T) {
	for _, tc := range []struct{ src, err string }{
		{"scenario a\narch arm64\nconfig page_size=64k\n", ""},
		{"scenario b\nconfig page_size=16k\n", ""},
		{"scenario c\narch arm64 x86_64\nconfig page_size=16k\n", "t.fault:3:18: config page_size=16k: x86_64 has 4k pages only"},
		{"scenario d\narch ppc64le\nconfig kernel=6.1 page_size=16k\n", "t.fault:3:29: config page_size=16k: ppc64le has 4k pages only"},
	} {
		_, err := Parse("t.fault", []byte(tc.src))
		if got := fmt.Sprint(err); (tc.err == "" && err != nil) || (tc.err != "" && got != tc.err) {
			t.Errorf("%q: error %v, want %q", tc.src, err, tc.err)
		}
	}
}
