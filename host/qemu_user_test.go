//go:build linux

package host

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/timeout"
)

// TestRetExecutesOnForeignCPUs cross-builds the executor statically for
// arm64, riscv64, ppc64le and s390x (big-endian) and runs it under qemu user-mode emulation (a CPU of
// that arch on this machine's kernel), driven by this package's client:
// `write A ret` then `exec A` must return on that CPU, a file filled with
// ret must run at every instruction-aligned offset, and a read of the
// ret sees its first byte. Skipped without the cross compiler or
// qemu-user (apt-get install qemu-user gcc-aarch64-linux-gnu
// gcc-riscv64-linux-gnu gcc-powerpc64le-linux-gnu gcc-s390x-linux-gnu).
func TestRetExecutesOnForeignCPUs(t *testing.T) {
	for _, c := range []struct{ arch, cc, qemu string }{
		{"arm64", "aarch64-linux-gnu-gcc", "qemu-aarch64"},
		{"riscv64", "riscv64-linux-gnu-gcc", "qemu-riscv64"},
		{"ppc64le", "powerpc64le-linux-gnu-gcc", "qemu-ppc64le"},
		{"s390x", "s390x-linux-gnu-gcc", "qemu-s390x"},
	} {
		t.Run(c.arch, func(t *testing.T) {
			cc, err := exec.LookPath(c.cc)
			if err != nil {
				t.Skipf("no %s", c.cc)
			}
			qemu, err := exec.LookPath(c.qemu)
			if err != nil {
				t.Skipf("no %s (apt-get install qemu-user)", c.qemu)
			}
			dir := t.TempDir()
			src, bin := filepath.Join(dir, "executor.c"), filepath.Join(dir, "executor-"+c.arch)
			if err := os.WriteFile(src, executorSource, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			args := append(append([]string{}, compileFlags...), "-Werror", "-static", "-o", bin, src)
			if msg, err := exec.CommandContext(ctx, cc, args...).CombinedOutput(); err != nil {
				t.Skipf("%s cannot build a static executor here: %v\n%s", c.cc, err, msg)
			}
			// The executor under qemu: a wrapper the client runs as it
			// would the binary (watchdog included).
			wrap := filepath.Join(dir, "run-"+c.arch)
			if err := os.WriteFile(wrap, []byte(fmt.Sprintf("#!/bin/sh\nexec %s %s \"$@\"\n", qemu, bin)), 0o700); err != nil {
				t.Fatal(err)
			}
			ctx = timeout.WithScale(ctx, 10) // an emulated CPU
			ex, err := Start(ctx, wrap)
			if err != nil {
				t.Fatal(err)
			}
			defer ex.Close()
			main, err := ex.Actor("main", 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			do := func(cmd string) Reply {
				t.Helper()
				r, err := main.Do(cmd, 30*time.Second)
				if err != nil {
					t.Fatalf("%s: %v\n%s", cmd, err, ex.Log())
				}
				return r
			}
			ret := RetInsn(c.arch)
			r := do("mmap 8192 3 34 0 - 0") // rw, MAP_PRIVATE|MAP_ANONYMOUS
			if r.Kind != "ok" || len(r.Vals) != 1 {
				t.Fatalf("mmap: %s", r.Line)
			}
			a := r.Vals[0]
			steps := []struct{ cmd, want string }{
				{fmt.Sprintf("write 0x%x ret", a+0x20), "ok"},
				{fmt.Sprintf("read 0x%x", a+0x20), fmt.Sprintf("ok %d", ret[0])},
				{fmt.Sprintf("read 0x%x", a+0x21), fmt.Sprintf("ok %d", append(ret, 0)[1])},
				{fmt.Sprintf("mprotect 0x%x 8192 5", a), "ok"}, // r-x
				{fmt.Sprintf("exec 0x%x", a+0x20), "ok"},
				{"file F 8192 ret", "ok"},
			}
			for _, s := range steps {
				if r := do(s.cmd); r.Line != s.want {
					t.Fatalf("%s: %q, want %q", s.cmd, r.Line, s.want)
				}
			}
			r = do("mmap 8192 5 2 0 F 0") // r-x, MAP_PRIVATE, the file
			if r.Kind != "ok" {
				t.Fatalf("mmap F: %s", r.Line)
			}
			f := r.Vals[0]
			for _, off := range []uint64{0, uint64(len(ret)), 4096 - uint64(len(ret))} {
				if r := do(fmt.Sprintf("exec 0x%x", f+off)); r.Line != "ok" {
					t.Errorf("exec of the ret file at +%#x: %q", off, r.Line)
				}
			}
			if r := do(fmt.Sprintf("read 0x%x", f+uint64(len(ret)))); r.Line != fmt.Sprintf("ok %d", ret[0]) {
				t.Errorf("read of the ret file at +%d: %q", len(ret), r.Line)
			}
			if strings.Contains(ex.Log(), "executor[") {
				t.Logf("executor log: %s", ex.Log())
			}
		})
	}
}
