package guest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
)

// Tool is a program the guest pipeline needs, and the Debian package
// that has it; a package without a program (a cross libc, firmware) is
// checked by a File it installs.
type Tool struct {
	Program, Package, File string
}

// Tools lists, per arch, what building and booting its guest needs.
func Tools(arch string) []Tool {
	b := BoardOf(arch)
	if b == nil {
		return nil
	}
	out := []Tool{b.Qemu, b.CC}
	out = append(out, b.Tools...)
	return append(out, Tool{"mke2fs", "e2fsprogs", ""}, Tool{"xz", "xz-utils", ""}, Tool{"zstd", "zstd", ""})
}

// Missing returns the packages of Tools(arch) whose program is not on
// PATH, or whose file is not there.
func Missing(arch string) []string {
	var out []string
	for _, t := range Tools(arch) {
		switch {
		case t.Program != "":
			if _, err := exec.LookPath(t.Program); err != nil {
				out = append(out, t.Package)
			}
		case t.File != "":
			if _, err := os.Stat(t.File); err != nil {
				out = append(out, t.Package)
			}
		}
	}
	return out
}

// goArch is the GOARCH of a guest arch.
func goArch(arch string) string {
	if b := BoardOf(arch); b != nil {
		return b.GoArch
	}
	return arch
}

// crossCC is the cross compiler of arch.
func crossCC(arch string) string {
	if b := BoardOf(arch); b != nil {
		return b.CC.Program
	}
	return arch + "-linux-gnu-gcc"
}

// ExecutorName is the name host.Build gives a build of src in its cache
// (executor-<first 16 hex digits of its SHA-256>): the guest's executor
// is put there, with its sum, so that the guest's hostrun.Detect finds it
// instead of looking for a C compiler.
func ExecutorName(src []byte) string {
	sum := sha256.Sum256(src)
	return "executor-" + hex.EncodeToString(sum[:])[:16]
}

// run runs a command with a bound and returns its combined output on
// failure in the error.
func run(ctx context.Context, d time.Duration, dir string, env []string, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("guest: %s %s: %w\n%s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// BuildExecutor cross-compiles the executor's source statically for arch
// into dir and returns the binary. sysroot, for a board whose CC is
// clang (Board.Sysroot), is the tree of the arch's libc it links with.
func BuildExecutor(ctx context.Context, arch string, src []byte, dir, sysroot string) ([]byte, error) {
	if err := os.WriteFile(filepath.Join(dir, "executor.c"), src, 0o600); err != nil {
		return nil, err
	}
	args, err := executorArgs(arch, sysroot)
	if err != nil {
		return nil, err
	}
	if err := run(ctx, 5*time.Minute, dir, nil, crossCC(arch), args...); err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(dir, "executor"))
}

// executorArgs are the compiler's arguments for arch: host.Build's flags,
// and -static (the guest has no libc). The text at 4 MiB, as arm64's
// linker puts it and unlike riscv64's (64 KiB, where scenarios map fixed
// low addresses: growsdown-mmap-min-addr's mmap at 0x12000 met the
// executor's text, EEXIST); lld places it with --image-base (it has no
// -Ttext-segment). The cross libcs have no rcrt1.o for -static-pie.
func executorArgs(arch, sysroot string) ([]string, error) {
	args := []string{"-std=gnu11", "-O1", "-Wall", "-Wextra", "-pthread", "-static"}
	if b := BoardOf(arch); b != nil && len(b.Sysroot) > 0 {
		if sysroot == "" {
			return nil, fmt.Errorf("guest: building the %s executor with %s needs a sysroot", arch, b.CC.Program)
		}
		// clang warns of the executor's self-assignments (warm's
		// t_x = t_x writes a thread-local's page), which gcc accepts.
		args = append(args, "--target="+b.GNUTriple(), "--sysroot="+sysroot, "-fuse-ld=lld", "-Wl,--image-base=0x400000", "-Wno-self-assign")
	} else {
		args = append(args, "-Wl,-Ttext-segment=0x400000")
	}
	return append(args, "-o", "executor", "executor.c"), nil
}

// modulePath is the module path of this program.
const modulePath = "github.com/faultline/faultline"

// SourceEnv names the variable that points at the module's source tree.
const SourceEnv = "FAULTLINE_SOURCE"

// ModuleRoot finds the source tree of the faultline module to build the
// guest's faultline from: $FAULTLINE_SOURCE, else the module enclosing
// the working directory (a clone, where `go run ./cmd/faultline` runs).
// Its go.mod must declare this module. When the running binary records
// the VCS revision it was built from, a tree at another revision is
// refused: the guest must run the code that compares its results.
func ModuleRoot() (string, error) {
	dir := os.Getenv(SourceEnv)
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dir = d
				break
			}
			if d == filepath.Dir(d) {
				return "", fmt.Errorf("guest: building the guest's faultline needs the module's source: run from a clone of %s or set %s", modulePath, SourceEnv)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("guest: %w (set %s to a clone of %s)", err, SourceEnv, modulePath)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if strings.TrimSpace(first) != "module "+modulePath {
		return "", fmt.Errorf("guest: %s is not the source of %s (set %s)", dir, modulePath, SourceEnv)
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				if head, err := gitHead(dir); err == nil && head != s.Value {
					return "", fmt.Errorf("guest: %s is at %.12s, this faultline was built from %.12s: rebuild it or set %s", dir, head, s.Value, SourceEnv)
				}
			}
		}
	}
	return dir, nil
}

// gitHead is the commit a clone's HEAD is at.
func gitHead(dir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// BuildFaultline builds ./cmd/faultline of the module at root for the
// guest's arch, statically (CGO_ENABLED=0), into dir.
func BuildFaultline(ctx context.Context, root, arch, dir string) ([]byte, error) {
	if _, err := exec.LookPath("go"); err != nil {
		return nil, errors.New("guest: building the guest's faultline needs the go command")
	}
	out := filepath.Join(dir, "faultline")
	env := []string{"GOOS=linux", "GOARCH=" + goArch(arch), "CGO_ENABLED=0", "GOFLAGS=-mod=mod"}
	if err := run(ctx, 10*time.Minute, root, env, "go", "build", "-trimpath", "-o", out, "./cmd/faultline"); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}
