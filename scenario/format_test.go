package scenario

import (
	"os"
	"path/filepath"
	"testing"
)

// validSources are complete scenarios that parse: the fuzz seed corpus and
// the round-trip test share them.
var validSources = []string{
	specExample,
	"scenario x",
	`scenario uffd-basic   # comment
needs uffd
config zero_page=off thp=never swap=0x10p
mmap A 2p rw private anon
thread h
thread t
uffd U register A 2p missing wp sigbus
t: write A 7 &
h: uffd U event => fault A write
h: uffd U copy A 1p 0x5a
h: uffd U wp A+1p 1p off
wait t => ok
read A => ok 0x5a x86_64=> ok 0x5a arm64=> ok 90
h: uffd U unregister A 2p
`,
	`scenario signals
arch x86_64 arm64
fork c
sigaction SIGUSR1 catch
c: sigaction SIGUSR2 ignore
kill c SIGUSR1
caught c SIGUSR1 => 1 arm64=> 0
kill c SIGKILL
c: read 0 => SIGSEGV SEGV_MAPERR @0
mmap B 1G none shared anon noreserve
madvise B+1G-1p 1p guard_install
read B-1 => SIGSEGV SI_KERNEL @B-1 lsb=0
`,
	`scenario files
file F 3p fill=ret
truncate F 1p
mmap M 3p r private file=F off=1p populate locked at=0x7f0000000000
kread M 1p 0x20 => EFAULT
kwrite M+1k 3k => ok 3072
kderef M write => oops
exec M => livelock s390x=> blocked
touch M 3p read => SIGBUS BUS_ADRERR @M+1p
rlimit stack 0x800000
memlimit 0
hugepages 2
mmap H 2M rw private anon hugetlb
madvise H 2M hwpoison => EINVAL
munmap H 0x100000000000000
mprotect 0xffffffffff600000+4095 1p none
write H+0x10 0
`,
}

func TestFormatRoundTrip(t *testing.T) {
	for _, src := range validSources {
		checkRoundTrip(t, mustParse(t, src))
	}
}

func TestFormatCanonical(t *testing.T) {
	src := `  # leading comment
scenario canon
arch  arm64  x86_64
config   thp=never
about "x"
needs uffd
mmap X 0x400000 rwx at=0x10000 anon shared    # flags in any order
file F 1p
mmap Y 8192 r file=F private off=4096
main: write X+4096+0x100 65 => ok riscv64=> killed SIGKILL arm64=> ok
kread X-0x1000 1048576 0 => ok 4096
read X => ok 195
thread t
t: write X 0x41 &
wait t
uffd U register X 1p sigbus minor
`
	want := `scenario canon
about "x"
arch arm64 x86_64
needs uffd
config thp=never

mmap X 4M rwx shared anon at=0x10000
file F 1p
mmap Y 2p r private file=F off=1p
write X+4352 => ok arm64=> ok riscv64=> killed SIGKILL
kread X-1p 1M => ok 4096
read X => ok 0xc3
thread t
t: write X &
wait t
uffd U register X 1p minor sigbus
`
	s := mustParse(t, src)
	if got := string(Format(s)); got != want {
		t.Errorf("Format:\n%s\nwant:\n%s", got, want)
	}
	checkRoundTrip(t, s)
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0", 1: "1", 1024: "1k", 3072: "3k", 4096: "1p", 8192: "2p", 6144: "6k",
		1 << 20: "1M", 3 << 20: "3M", 1<<20 + 4096: "257p", 1 << 30: "1G", 1<<64 - 1: "18446744073709551615",
		1 << 63: "8589934592G",
	} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestCorpus parses the scenario corpus, when there is one, and checks
// that it survives formatting.
func TestCorpus(t *testing.T) {
	files, _ := filepath.Glob("../scenarios/*.fault")
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Parse(name, src)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		checkRoundTrip(t, s)
	}
}
