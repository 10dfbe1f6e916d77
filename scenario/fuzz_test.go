package scenario

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// invalidSources seed the fuzzer with inputs that exercise error paths.
var invalidSources = []string{
	"",
	"mmap X 1p rw private anon\n",
	"scenario x\nmmap X 1p rwz private anon\nread X => SIGBUS SEGV_MAPERR @X\n",
	"scenario x\nthread t\nt: read 0 &\nt: read 0\nwait t => ok &\n",
	"scenario x\nabout \"unterminated\n",
	"scenario x\r\nread \xff\x00\r\r\n",
	"scenario x\ncaught main SIGUSR1\nread 0 => 3 arm64=> ok arm64=> ok\n",
	"scenario x\nconfig thp=maybe swap=-1\narch sparc\nneeds magic\n",
	"scenario x\nmmap X 1p rw shared private file=F off=1p at=X+\n",
	"scenario x\nuffd U event => fault 0x10 write write\n",
}

// hostileSources are the shapes of input that once broke a runner: each
// must end in a parse error (a limit), never a tree that a runner cannot
// run.
func hostileSources() []string {
	var tasks strings.Builder
	tasks.WriteString("scenario x\n")
	for i := range 2000 {
		fmt.Fprintf(&tasks, "fork t%d\n", i)
	}
	return []string{
		tasks.String(),
		"scenario x\nhugepages 0xffffffffffffffff\n",
		"scenario x\nhugepages 1000000\n",
		"scenario x\nmemlimit 0xffffffffffffffff\n",
		"scenario x\nmmap A 1p rw private anon\nread A-0xffffffffffffffff\n",
		"scenario x\nread 0xffffffffffffffff+1\n",
		"scenario x\nmmap A 1p rw private anon\nmadvise A 0x8000000000000000 dontneed\nmprotect A 0x8000000000000001 none\n",
		"scenario x\nfile F 2G\nkread 0 2G\ntruncate F 0x7fffffffffffffff\n",
		"scenario x\nthread " + strings.Repeat("t", 65) + "\n",
		"scenario x\n" + strings.Repeat("read 0\n", 100000),
		"scenario x\nread 0" + strings.Repeat("+1", MaxFileSize/2) + "\n",
	}
}

func FuzzParse(f *testing.F) {
	for _, src := range hostileSources() {
		f.Add([]byte(src))
	}
	for _, src := range validSources {
		f.Add([]byte(src))
	}
	for _, src := range invalidSources {
		f.Add([]byte(src))
	}
	// The corpus, once there is one, is the best seed of all.
	files, _ := filepath.Glob("../scenarios/*.fault")
	for _, name := range files {
		if src, err := os.ReadFile(name); err == nil {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := Parse("fuzz.fault", src)
		if err == nil && (len(s.Body) > MaxStatements || len(src) > MaxFileSize) {
			t.Fatalf("a file of %d bytes with %d statements parsed", len(src), len(s.Body))
		}
		if err != nil {
			if s != nil {
				t.Fatalf("Parse returned a tree and an error")
			}
			list, ok := err.(ErrorList)
			if !ok || len(list) == 0 || len(list) > maxErrors {
				t.Fatalf("Parse error %T with %d entries", err, len(list))
			}
			for i := 1; i < len(list); i++ {
				if list[i].Pos.Line <= list[i-1].Pos.Line {
					t.Fatalf("errors not one per line in file order:\n%v", list)
				}
			}
			return
		}
		checkRoundTrip(t, s)
	})
}
