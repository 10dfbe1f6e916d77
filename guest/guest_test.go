package guest

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/timeout"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
		err  string
	}{
		{"arm64", Spec{"arm64", "bookworm", "6.1"}, ""},
		{"arm64:7.2", Spec{"arm64", "forky", "7.2"}, ""},
		{"arm64:trixie", Spec{"arm64", "trixie", "6.12"}, ""},
		{"riscv64", Spec{"riscv64", "forky", "7.2"}, ""},
		{"riscv64:6.1", Spec{}, "no riscv64 port"},
		{"ppc64le", Spec{"ppc64le", "bookworm", "6.1"}, ""},
		{"ppc64le:forky", Spec{"ppc64le", "forky", "7.2"}, ""},
		{"s390x:6.12", Spec{"s390x", "trixie", "6.12"}, ""},
		{"ppc64el", Spec{}, "unknown arch"},
		{"x86_64:6.1", Spec{}, "unknown arch"},
		{"arm64:5.10", Spec{}, "unknown kernel"},
	}
	for _, tt := range tests {
		got, err := ParseSpec(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSpec(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSpec(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestAptState(t *testing.T) {
	dir := t.TempDir()
	a := aptState{dir: dir, spec: Spec{"riscv64", "forky", "7.2"}, mirror: Mirror}
	if err := a.prepare(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "sources.list"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "deb [arch=riscv64 signed-by=" + Keyring + "] " + Mirror + " forky main\n"; string(b) != want {
		t.Errorf("sources.list = %q, want %q", b, want)
	}
	stable := aptState{dir: dir, spec: Spec{"arm64", "bookworm", "6.1"}, mirror: Mirror}.sourcesList()
	if !strings.Contains(stable, " bookworm main\n") || !strings.Contains(stable, "debian-security bookworm-security main\n") {
		t.Errorf("bookworm's sources lack the suite or its security updates: %q", stable)
	}
	// The retry without them, and a suite that has none (backports).
	for _, st := range []aptState{{dir: dir, spec: Spec{"arm64", "bookworm", "6.1"}, mirror: Mirror, noSecurity: true}, {dir: dir, spec: Spec{"amd64", "bookworm-backports", ""}, mirror: Mirror}} {
		if l := st.sourcesList(); strings.Contains(l, "security") || !strings.Contains(l, " "+st.spec.Suite+" main\n") {
			t.Errorf("%s (noSecurity %v): %q", st.spec.Suite, st.noSecurity, l)
		}
	}
	opts := map[string]string{}
	args := a.options()
	for i := 0; i < len(args); i += 2 {
		if args[i] != "-o" {
			t.Fatalf("argument %d is %q, want -o", i, args[i])
		}
		k, v, _ := strings.Cut(args[i+1], "=")
		opts[k] = v
	}
	// Every path apt reads or writes is inside the private state.
	for _, k := range []string{"Dir::State", "Dir::State::Lists", "Dir::State::status", "Dir::Cache", "Dir::Etc::SourceList", "Dir::Etc::SourceParts", "Dir::Etc::Preferences", "Dir::Etc::PreferencesParts"} {
		if !strings.HasPrefix(opts[k], dir+"/") {
			t.Errorf("%s = %q, not inside the private state %s", k, opts[k], dir)
		}
	}
	if opts["APT::Architecture"] != "riscv64" || opts["APT::Architectures"] != "riscv64" {
		t.Errorf("architectures: %q, %q", opts["APT::Architecture"], opts["APT::Architectures"])
	}
	if opts["APT::Get::AllowUnauthenticated"] != "false" || opts["Acquire::AllowInsecureRepositories"] != "false" {
		t.Error("unsigned indexes or packages are not refused")
	}
	if fi, err := os.Stat(filepath.Join(dir, "state", "status")); err != nil || fi.Size() != 0 {
		t.Errorf("the status file is not empty: %v", err)
	}
}

func TestControlFields(t *testing.T) {
	show := []byte(`Package: linux-image-7.2.12+deb14-arm64
Version: 7.2.12-1
Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, linux-base-7.2.12+deb14-arm64 (= 7.2.12-1), linux-binary-7.2.12+deb14-arm64 (= 7.2.12-1), linux-modules-7.2.12+deb14-arm64 (= 7.2.12-1)

Package: linux-image-7.2.12+deb14-arm64
Version: 7.2.11-1
Depends: linux-base-7.2.11+deb14-arm64
`)
	if v := field(show, "Version"); v != "7.2.12-1" {
		t.Errorf("Version = %q", v)
	}
	re := kernelDeps("7.2.12+deb14-arm64")
	got := strings.Join(dependsOn(show, re), " ")
	if want := "linux-base-7.2.12+deb14-arm64 linux-binary-7.2.12+deb14-arm64 linux-modules-7.2.12+deb14-arm64"; got != want {
		t.Errorf("dependsOn = %q, want %q", got, want)
	}
}

func TestCommand(t *testing.T) {
	for _, tt := range []struct {
		arch, prog string
		want       []string
	}{
		{"arm64", "qemu-system-aarch64", []string{"-M virt -cpu max,pauth-impdef=on", "-nic none", "-no-reboot", "console=ttyAMA0 panic=-1", "faultline.scale=2.5", "virtio-blk-device,drive=scratch", "-kernel /k/Image -initrd /w/i.cpio"}},
		{"riscv64", "qemu-system-riscv64", []string{"-M virt -bios default", "-nic none", "console=ttyS0 panic=-1", "-smp 1 -m 1024"}},
		{"ppc64le", "qemu-system-ppc64", []string{"-M pseries -cpu power9 -vga none", "console=hvc0 panic=-1", "virtio-blk-pci,drive=scratch"}},
		{"s390x", "qemu-system-s390x", []string{"-M s390-ccw-virtio -cpu max", "console=ttysclp0 panic=-1", "virtio-blk-ccw,drive=scratch", "-display none -nodefaults -serial stdio"}},
		// A private qemu: its path, no default devices.
		{"loongarch64", "qemu-system-loongarch64", []string{"-M virt -cpu la464 -bios /c/QEMU_EFI.fd", "-display none -nodefaults -serial stdio", "initcall_blacklist=i8042_init", "virtio-blk-pci,drive=scratch"}},
	} {
		m := Machine{Arch: tt.arch, Kernel: "/k/Image", Initrd: "/w/i.cpio", Disk: "/w/d.ext4", Scale: 2.5}
		if BoardOf(tt.arch).privateFor("7.2") {
			m.Qemu = "/c/" + tt.prog
		}
		if BoardOf(tt.arch).Firmware.Package != "" {
			m.Bios = "/c/QEMU_EFI.fd"
		}
		prog, args, err := m.Command()
		if err != nil || filepath.Base(prog) != filepath.Base(tt.prog) {
			t.Fatalf("%s: %s, %v", tt.arch, prog, err)
		}
		line := strings.Join(args, " ")
		for _, w := range tt.want {
			if !strings.Contains(line, w) {
				t.Errorf("%s: %q lacks %q", tt.arch, line, w)
			}
		}
		if m.Qemu != "" && strings.Contains(line, "-nographic") {
			t.Errorf("%s: %q: a private qemu with default devices", tt.arch, line)
		}
		if tt.arch == "riscv64" && strings.Contains(line, "-cpu") {
			t.Errorf("riscv64: %q names a cpu (qemu 7.2 refuses max)", line)
		}
	}
	if _, _, err := (Machine{Arch: "x86_64"}).Command(); err == nil {
		t.Error("a machine for x86_64 was made")
	}
}

// TestBoards: every board is complete, and its names are consistent:
// Debian's and Go's arch names, a kernel flavour, a qemu program, a
// cross compiler, disk modules that end in ext4, versions Debian has.
func TestBoards(t *testing.T) {
	known := map[string]bool{}
	for _, v := range suites {
		known[v.version] = true
	}
	seen := map[string]bool{}
	for _, b := range Boards {
		if seen[b.Arch] {
			t.Errorf("%s: two boards", b.Arch)
		}
		seen[b.Arch] = true
		if b.Debian == "" || b.GoArch == "" || b.Flavour == "" || b.Qemu.Program == "" || b.Qemu.Package == "" ||
			b.CC.Program == "" || b.Console == "" || b.Disk == "" || len(b.Board) == 0 {
			t.Errorf("%s: incomplete board %+v", b.Arch, b)
		}
		if len(b.DiskModules) == 0 || b.DiskModules[len(b.DiskModules)-1] != "ext4" || !slices.Contains(b.DiskModules, "virtio_blk") {
			t.Errorf("%s: disk modules %v lack virtio_blk or do not end with ext4", b.Arch, b.DiskModules)
		}
		if len(b.Versions) == 0 {
			t.Errorf("%s: no kernel versions", b.Arch)
		}
		for _, v := range b.Versions {
			if !known[v] {
				t.Errorf("%s: version %s is no Debian suite's", b.Arch, v)
			}
		}
		if DefaultVersion(b.Arch) != b.Versions[0] {
			t.Errorf("%s: default %s, want %s", b.Arch, DefaultVersion(b.Arch), b.Versions[0])
		}
		if goArch(b.Arch) != b.GoArch || crossCC(b.Arch) != b.CC.Program {
			t.Errorf("%s: goArch %s, crossCC %s", b.Arch, goArch(b.Arch), crossCC(b.Arch))
		}
		tools := Tools(b.Arch)
		if len(tools) < 2 || tools[0] != b.Qemu || tools[1] != b.CC {
			t.Errorf("%s: Tools = %v", b.Arch, tools)
		}
		for _, tl := range tools {
			if tl.Program == "" && tl.File == "" {
				t.Errorf("%s: %s can be checked neither by program nor by file", b.Arch, tl.Package)
			}
		}
	}
	// A private qemu where the system's cannot boot the kernel, and only there.
	for _, c := range []struct {
		arch, version string
		private       bool
	}{{"s390x", "6.1", false}, {"s390x", "7.2", true}, {"loongarch64", "7.2", true}, {"arm64", "7.2", false}, {"ppc64le", "7.2", false}} {
		if got := BoardOf(c.arch).privateFor(c.version); got != c.private {
			t.Errorf("%s %s: private qemu %v, want %v", c.arch, c.version, got, c.private)
		}
	}
	if BoardOf("x86_64") != nil || Tools("x86_64") != nil || DefaultVersion("mips") != "" {
		t.Error("a board for an arch without guests")
	}
	// Debian's names are apt's: the private state asks for them.
	a := aptState{spec: Spec{"ppc64le", "bookworm", "6.1"}, mirror: Mirror}
	if l := a.sourcesList(); !strings.Contains(l, "[arch=ppc64el ") || strings.Contains(l, "ppc64le") {
		t.Errorf("ppc64le's sources name the wrong arch: %q", l)
	}
}

func TestModelConfig(t *testing.T) {
	info := &HostInfo{Config: map[string]string{"kernel": "7.2", "mmap_min_addr": "4096", "memory_failure": "y"}}
	cfg, notes := ModelConfig(info, map[string]string{"CONFIG_MEMORY_FAILURE": "n", "CONFIG_SECURITY": "y", "CONFIG_LSM_MMAP_MIN_ADDR": "32768"})
	if v, _ := cfg.Get("memory_failure"); v != "n" {
		t.Errorf("memory_failure = %s, want n (the kernel's config)", v)
	}
	if v, _ := cfg.Get("mmap_min_addr"); v != "32768" {
		t.Errorf("mmap_min_addr = %s, want 32768 (CONFIG_LSM_MMAP_MIN_ADDR)", v)
	}
	if v, _ := cfg.Get("kernel"); v != "7.2" {
		t.Errorf("kernel = %s, want the guest's 7.2", v)
	}
	if len(notes) != 2 {
		t.Errorf("notes = %q, want one per change", notes)
	}
	cfg, notes = ModelConfig(&HostInfo{Config: map[string]string{"mmap_min_addr": "65536"}}, map[string]string{"CONFIG_SECURITY": "y", "CONFIG_LSM_MMAP_MIN_ADDR": "32768"})
	if v, _ := cfg.Get("mmap_min_addr"); v != "65536" || len(notes) != 0 {
		t.Errorf("a higher sysctl was lowered: %s, %q", v, notes)
	}
}

// fakeQemu puts a shell script named prog first on PATH.
func fakeQemu(t *testing.T, prog, script string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the fake qemu is a shell script and the checks read /proc: Linux only")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, prog), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
}

func TestRunCollects(t *testing.T) {
	host, _ := FormatLine(KindHost, HostInfo{Arch: "arm64", Kernel: "6.1.0"})
	r0, _ := FormatLine(KindResult, Result{Index: 0, File: "a.fault", Skip: "lacks uffd-wp"})
	done, _ := FormatLine(KindDone, Done{Count: 1})
	fakeQemu(t, "qemu-system-aarch64", "echo '[ 0.1] Booting Linux'\necho '"+host+"'\necho '"+r0+"'\necho '"+done+"'\n")
	b := Machine{Arch: "arm64", Scale: 1}.Run(context.Background(), nil)
	if b.Err != nil || !b.Done || b.Host == nil || b.Host.Kernel != "6.1.0" || len(b.Results) != 1 || b.Results[0].Skip != "lacks uffd-wp" {
		t.Fatalf("boot = %+v", b)
	}
	if len(b.Console) != 1 || !strings.Contains(b.Console[0], "Booting Linux") {
		t.Errorf("console = %q", b.Console)
	}
}

func TestRunGuestErrorAndEarlyExit(t *testing.T) {
	host, _ := FormatLine(KindHost, HostInfo{Arch: "arm64"})
	fail, _ := FormatLine(KindError, Failure{Error: "mount /dev/vda: no such device"})
	fakeQemu(t, "qemu-system-aarch64", "echo '"+host+"'\necho '"+fail+"'\n")
	b := Machine{Arch: "arm64", Scale: 1}.Run(context.Background(), nil)
	if b.Done || b.Err == nil || !strings.Contains(b.Err.Error(), "no such device") {
		t.Errorf("a guest error: %+v", b)
	}
	fakeQemu(t, "qemu-system-aarch64", "echo '"+host+"'\nexit 0\n")
	b = Machine{Arch: "arm64", Scale: 1}.Run(context.Background(), nil)
	if b.Done || b.Err == nil || !strings.Contains(b.Err.Error(), "before the guest was done") {
		t.Errorf("an early exit: %+v", b)
	}
}

// TestRunKillsHungGuest: a guest that stops answering is killed, its
// whole process group with it, within its (scaled) bound, and reported
// as timed out.
func TestRunKillsHungGuest(t *testing.T) {
	host, _ := FormatLine(KindHost, HostInfo{Arch: "riscv64"})
	pidFile := filepath.Join(t.TempDir(), "child")
	fakeQemu(t, "qemu-system-riscv64", "echo '"+host+"'\nsleep 600 &\necho $! > "+pidFile+"\nwait\n")
	scale := timeout.Scale(0.002) // ScenarioBound: 600ms
	start := time.Now()
	b := Machine{Arch: "riscv64", Scale: scale}.Run(context.Background(), nil)
	if !b.TimedOut || b.Err == nil || b.Host == nil {
		t.Fatalf("boot = %+v", b)
	}
	if el := time.Since(start); el > scale.Of(ScenarioBound)+30*time.Second {
		t.Errorf("killed after %s, bound %s", el, scale.Of(ScenarioBound))
	}
	assertGone(t, pidFile)
}

func TestRunInterrupted(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	fakeQemu(t, "qemu-system-aarch64", "sleep 600 &\necho $! > "+pidFile+"\nwait\n")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for i := 0; i < 500; i++ {
			if _, err := os.Stat(pidFile); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	b := Machine{Arch: "arm64", Scale: 1}.Run(ctx, nil)
	if b.Err == nil || !strings.Contains(b.Err.Error(), "interrupted") || b.TimedOut {
		t.Fatalf("boot = %+v", b)
	}
	assertGone(t, pidFile)
}

// assertGone checks that the process whose pid the file holds is dead
// (bounded: the kill is asynchronous; a zombie counts as dead).
func assertGone(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	for _, c := range strings.TrimSpace(string(b)) {
		pid = pid*10 + int(c-'0')
	}
	for i := 0; i < 500; i++ {
		st, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Errorf("qemu's child %d outlived the boot", pid)
}
