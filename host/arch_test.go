//go:build linux

package host

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestRetInsnCrossBuilds compiles the executor statically for each arch
// whose cross compiler is installed (as the qemu guests run it) and reads
// the ret_insn the preprocessor selected out of the binary: it must be the
// arch's, as RetInsn says, and a build for an arch of a different machine
// must be of that machine. Arches without a compiler are skipped.
func TestRetInsnCrossBuilds(t *testing.T) {
	cases := []struct {
		arch, cc string
		machine  elf.Machine
	}{
		{"x86_64", "x86_64-linux-gnu-gcc", elf.EM_X86_64},
		{"arm64", "aarch64-linux-gnu-gcc", elf.EM_AARCH64},
		{"riscv64", "riscv64-linux-gnu-gcc", elf.EM_RISCV},
		{"ppc64le", "powerpc64le-linux-gnu-gcc", elf.EM_PPC64},
		{"s390x", "s390x-linux-gnu-gcc", elf.EM_S390},
	}
	src := filepath.Join(t.TempDir(), "executor.c")
	if err := os.WriteFile(src, executorSource, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.arch, func(t *testing.T) {
			cc, err := exec.LookPath(c.cc)
			if err != nil {
				t.Skipf("no %s (apt-get install gcc-%s): %v", c.cc, c.cc[:len(c.cc)-len("-gcc")], err)
			}
			out := filepath.Join(t.TempDir(), "executor")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			args := append(append([]string{}, compileFlags...), "-Werror", "-static", "-o", out, src)
			if msg, err := exec.CommandContext(ctx, cc, args...).CombinedOutput(); err != nil {
				// A compiler without its libc (libc6-dev-*-cross) cannot link.
				if bytes.Contains(msg, []byte("cannot find")) || bytes.Contains(msg, []byte("No such file")) {
					t.Skipf("%s cannot build static binaries here: %s", c.cc, msg)
				}
				t.Fatalf("%s: %v\n%s", c.cc, err, msg)
			}
			got, mach := readSymbol(t, out, "ret_insn")
			if mach != c.machine {
				t.Fatalf("built for %v, want %v", mach, c.machine)
			}
			if want := RetInsn(c.arch); !bytes.Equal(got, want) {
				t.Errorf("ret_insn = % x, RetInsn(%s) = % x", got, c.arch, want)
			}
		})
	}
}

// readSymbol returns the bytes of the data symbol name in the ELF file at
// path, and the file's machine.
func readSymbol(t *testing.T, path, name string) ([]byte, elf.Machine) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name != name || int(s.Section) >= len(f.Sections) || s.Section == elf.SHN_UNDEF {
			continue
		}
		sec := f.Sections[s.Section]
		data, err := sec.Data()
		if err != nil {
			t.Fatal(err)
		}
		off := s.Value - sec.Addr
		if off+s.Size > uint64(len(data)) {
			t.Fatalf("%s lies outside its section", name)
		}
		return data[off : off+s.Size], f.Machine
	}
	t.Fatalf("no symbol %s in %s", name, path)
	return nil, 0
}

func TestRetInsnUnknownArch(t *testing.T) {
	for _, arch := range []string{"", "mips", "ppc64", "s390"} {
		if b := RetInsn(arch); b != nil {
			t.Errorf("RetInsn(%q) = % x, want nil", arch, b)
		}
	}
	// A copy: the caller cannot change the table.
	RetInsn("x86_64")[0] = 0
	if RetInsn("x86_64")[0] != 0xc3 {
		t.Error("RetInsn returned the table itself")
	}
}
