package guest

import "slices"

// Board is one guest architecture: where its kernel comes from, how its
// executor and faultline are built, and how qemu boots it. Boards is the
// one table every per-arch choice of this package reads.
type Board struct {
	// Arch is the Linux name faultline uses (the model's, hostrun's).
	Arch string
	// Debian is Debian's name of the architecture (apt's), GoArch Go's.
	Debian, GoArch string
	// Flavour names the kernel: the linux-image-FLAVOUR metapackage.
	Flavour string
	// Versions are the kernel versions (suites) with a port of the arch,
	// the first the default.
	Versions []string
	// Qemu is the qemu-system program and its package; Board, its -M,
	// -cpu (and firmware) arguments; Console, the kernel's console.
	Qemu    Tool
	Board   []string
	Console string
	// Disk is the -device of the scratch disk (the drive "scratch"), and
	// DiskModules the modules it needs in the guest, in the order asked:
	// its virtio transport, the block driver, and ext4 (its crc32c
	// through the crypto API, which a guest without modprobe cannot
	// request). Those built in or absent are left out; their
	// dependencies come first.
	Disk        string
	DiskModules []string
	// Append is what the kernel command line needs besides the common
	// part.
	Append []string
	// CC is the cross compiler, Tools every other package building and
	// booting the guest needs (the cross libc, firmware).
	CC    Tool
	Tools []Tool
	// Private, where its Package is set, is a newer qemu than the
	// system's, for the kernel versions it lists (all when none).
	Private PrivateQemu
	// ZBoot: the kernel image is an EFI zboot image, whose compressed
	// payload qemu boots once decompressed.
	ZBoot bool
	// Firmware, where its Package is set, is the guest arch's Debian
	// package (of the kernel's suite) holding the firmware at File (in
	// the package) that qemu runs as -bios, fetched into the cache.
	Firmware Firmware
	// Sysroot, where set, lists the guest arch's Debian packages (of the
	// kernel's suite) that make the sysroot CC builds the executor with:
	// CC is then clang, which has no libc of its own for the arch.
	Sysroot []string
}

// PrivateQemu is a qemu package of another Debian suite (of this
// machine's arch: bookworm-backports), fetched into the cache and run
// from there, not installed, where the system's qemu cannot boot the
// board's kernels.
type PrivateQemu struct {
	Package, Suite string
	Versions       []string
}

// privateFor reports whether the board's kernel of version v boots on
// its private qemu.
func (b *Board) privateFor(v string) bool {
	return b.Private.Package != "" && (len(b.Private.Versions) == 0 || slices.Contains(b.Private.Versions, v))
}

// Firmware is a firmware image of a Debian package.
type Firmware struct {
	Package, File string
}

// Boards are the guest architectures, in the order setup and the help
// list them.
var Boards = []Board{
	{
		Arch: "arm64", Debian: "arm64", GoArch: "arm64", Flavour: "arm64",
		Versions: []string{"6.1", "6.12", "7.2"},
		// pauth-impdef: QARMA pointer authentication is slow under TCG.
		Qemu: Tool{"qemu-system-aarch64", "qemu-system-arm", ""}, Board: []string{"-M", "virt", "-cpu", "max,pauth-impdef=on"},
		Console: "ttyAMA0", Disk: "virtio-blk-device", DiskModules: mmioDisk,
		CC:    Tool{"aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu", ""},
		Tools: []Tool{{"", "libc6-dev-arm64-cross", "/usr/aarch64-linux-gnu/lib/libc.a"}},
	},
	{
		Arch: "riscv64", Debian: "riscv64", GoArch: "riscv64", Flavour: "riscv64",
		// Debian 12 has no riscv64 port. -cpu max is refused by qemu
		// 7.2's riscv64.
		Versions: []string{"7.2", "6.12"},
		Qemu:     Tool{"qemu-system-riscv64", "qemu-system-misc", ""}, Board: []string{"-M", "virt", "-bios", "default"},
		Console: "ttyS0", Disk: "virtio-blk-device", DiskModules: mmioDisk,
		CC: Tool{"riscv64-linux-gnu-gcc", "gcc-riscv64-linux-gnu", ""},
		Tools: []Tool{{"", "libc6-dev-riscv64-cross", "/usr/riscv64-linux-gnu/lib/libc.a"},
			{"", "opensbi", "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"}},
	},
	{
		// POWER9 on the pseries board (radix MMU), its console the
		// hypervisor's virtual terminal. Debian's powerpc64le kernel has
		// 64 KiB pages up to 6.1; from 6.12 4 KiB (a -64k flavour has
		// the large ones).
		Arch: "ppc64le", Debian: "ppc64el", GoArch: "ppc64le", Flavour: "powerpc64le",
		Versions: []string{"6.1", "6.12", "7.2"},
		Qemu:     Tool{"qemu-system-ppc64", "qemu-system-ppc", ""}, Board: []string{"-M", "pseries", "-cpu", "power9", "-vga", "none"},
		Console: "hvc0", Disk: "virtio-blk-pci", DiskModules: pciDisk,
		CC:    Tool{"powerpc64le-linux-gnu-gcc", "gcc-powerpc64le-linux-gnu", ""},
		Tools: []Tool{{"", "libc6-dev-ppc64el-cross", "/usr/powerpc64le-linux-gnu/lib/libc.a"}},
	},
	{
		// The virtio CCW board; its console the SCLP line-mode terminal.
		// Forky's 7.2 kernel oopses under bookworm's qemu 7.2 (in
		// ext4_mb_new_blocks, "Fault in home space mode while using
		// kernel ASCE", at the scratch disk's first mkdir): it runs on
		// qemu 10.
		Arch: "s390x", Debian: "s390x", GoArch: "s390x", Flavour: "s390x",
		Versions: []string{"6.1", "6.12", "7.2"},
		Qemu:     Tool{"qemu-system-s390x", "qemu-system-misc", ""}, Board: []string{"-M", "s390-ccw-virtio", "-cpu", "max"},
		Private: PrivateQemu{Package: "qemu-system-s390x", Suite: "bookworm-backports", Versions: []string{"7.2"}},
		Console: "ttysclp0", Disk: "virtio-blk-ccw", DiskModules: ccwDisk,
		CC:    Tool{"s390x-linux-gnu-gcc", "gcc-s390x-linux-gnu", ""},
		Tools: []Tool{{"", "libc6-dev-s390x-cross", "/usr/s390x-linux-gnu/lib/libc.a"}},
	},
	{
		// Debian's loong64 port starts with forky; its kernel has 16 KiB
		// pages and needs qemu 10 (bookworm's 7.2 does not boot it),
		// which is fetched privately from bookworm-backports, as the
		// kernels are. It boots the kernel's EFI zboot image once
		// decompressed (ZBoot), under forky's EDK2 (Firmware): booted
		// without it, the kernel finds no ACPI tables, and so no PCI
		// device, no scratch disk. The i8042 probe of the virt board
		// hangs.
		// No cross gcc: clang with a sysroot of forky's loong64 libc.
		Arch: "loongarch64", Debian: "loong64", GoArch: "loong64", Flavour: "loong64",
		Versions: []string{"7.2"},
		Qemu:     Tool{"qemu-system-loongarch64", "qemu-system-misc", ""},
		Private:  PrivateQemu{Package: "qemu-system-misc", Suite: "bookworm-backports"},
		Board:    []string{"-M", "virt", "-cpu", "la464"},
		Console:  "ttyS0", Disk: "virtio-blk-pci", DiskModules: pciDisk,
		Append:   []string{"initcall_blacklist=i8042_init"},
		ZBoot:    true,
		Firmware: Firmware{"qemu-efi-loongarch64", "usr/share/qemu-efi-loongarch64/QEMU_EFI.fd"},
		CC:       Tool{"clang-19", "clang-19", ""},
		Tools:    []Tool{{"ld.lld-19", "lld-19", ""}},
		Sysroot:  []string{"libc6-dev", "libc6", "libgcc-14-dev", "linux-libc-dev"},
	},
}

// The disk modules of each virtio transport.
var (
	mmioDisk = []string{"virtio_mmio", "virtio_blk", "crc32c_generic", "ext4"}
	pciDisk  = []string{"virtio_pci", "virtio_blk", "crc32c_generic", "ext4"}
	ccwDisk  = []string{"virtio_ccw", "virtio_blk", "crc32c_generic", "ext4"}
)

// Arches are the guest architectures.
var Arches = func() []string {
	out := make([]string, len(Boards))
	for i, b := range Boards {
		out[i] = b.Arch
	}
	return out
}()

// BoardOf returns the board of arch, or nil.
func BoardOf(arch string) *Board {
	for i := range Boards {
		if Boards[i].Arch == arch {
			return &Boards[i]
		}
	}
	return nil
}

// DefaultVersion is the kernel an arch's guest boots without --kernel:
// the oldest Debian kernel of the arch (riscv64 has no Debian 12 port).
func DefaultVersion(arch string) string {
	if b := BoardOf(arch); b != nil {
		return b.Versions[0]
	}
	return ""
}

// hasVersion reports whether the board has a Debian kernel of version v.
func (b *Board) hasVersion(v string) bool { return slices.Contains(b.Versions, v) }

// GNUTriple is the arch's GNU target triple (clang's --target).
func (b *Board) GNUTriple() string {
	switch b.Arch {
	case "arm64":
		return "aarch64-linux-gnu"
	case "ppc64le":
		return "powerpc64le-linux-gnu"
	}
	return b.Arch + "-linux-gnu"
}
