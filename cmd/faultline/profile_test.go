package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProfiles: --cpuprofile and --memprofile write profiles that pprof
// reads (gzipped protocol buffers), also when the command fails; an
// unwritable path is a usage error.
func TestProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof")
	for _, args := range [][]string{
		{"run", "--cpuprofile", cpu, "--memprofile", mem, "testdata/pass.fault"},
		{"run", "--cpuprofile", cpu, "--memprofile", mem, "testdata/no-such-file.fault"},
	} {
		os.Remove(cpu)
		os.Remove(mem)
		runCLI(args...)
		for _, f := range []string{cpu, mem} {
			b, err := os.ReadFile(f)
			if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
				t.Fatalf("%v: %s is not a gzipped profile (%d bytes, %v)", args, filepath.Base(f), len(b), err)
			}
		}
	}
	_, errOut, code := runCLI("run", "--cpuprofile", filepath.Join(dir, "no", "such", "dir"), "testdata/pass.fault")
	if code != 2 || !strings.Contains(errOut, "--cpuprofile") {
		t.Fatalf("unwritable profile: exit %d, stderr %q", code, errOut)
	}
}
