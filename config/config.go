// Package config is the kernel configuration a model is built with: the
// build and boot options that change observable fault outcomes (the
// `config` keys of the scenario language). A Kernel value is immutable once
// a model is built from it; two models never share one by reference.
package config

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Vsyscall is the x86_64 vsyscall mode (the vsyscall= boot option).
type Vsyscall int

// Vsyscall modes.
const (
	VsyscallXOnly   Vsyscall = iota // CONFIG_LEGACY_VSYSCALL_XONLY: execute-only, emulated
	VsyscallEmulate                 // readable page, calls emulated
	VsyscallNone                    // no vsyscall page
)

func (v Vsyscall) String() string {
	switch v {
	case VsyscallXOnly:
		return "xonly"
	case VsyscallEmulate:
		return "emulate"
	case VsyscallNone:
		return "none"
	}
	return "vsyscall?"
}

// THP is the transparent huge page mode for anonymous memory.
type THP int

// THP modes (/sys/kernel/mm/transparent_hugepage/enabled).
const (
	THPMadvise THP = iota
	THPAlways
	THPNever
)

func (t THP) String() string {
	switch t {
	case THPAlways:
		return "always"
	case THPMadvise:
		return "madvise"
	case THPNever:
		return "never"
	}
	return "thp?"
}

// Version is a kernel version, MAJOR.MINOR (the first two numbers of a
// release such as 6.18.44): the kernel whose rules the model follows where
// they changed between versions.
type Version struct{ Major, Minor int }

// ParseVersion parses MAJOR.MINOR, both decimal numbers (2 <= MAJOR < 100,
// MINOR < 1000).
func ParseVersion(s string) (Version, error) {
	maj, min, ok := strings.Cut(s, ".")
	if !ok || !decimal(maj) || !decimal(min) || len(maj) > 2 || len(min) > 3 {
		return Version{}, fmt.Errorf("want MAJOR.MINOR, as 6.18")
	}
	v := Version{}
	v.Major, _ = strconv.Atoi(maj)
	v.Minor, _ = strconv.Atoi(min)
	if v.Major < 2 {
		return Version{}, fmt.Errorf("want MAJOR.MINOR, as 6.18")
	}
	return v, nil
}

// ReleaseVersion is the version of a kernel release string (uname -r,
// "6.18.44-fc-v857"): its first two numbers.
func ReleaseVersion(release string) (Version, error) {
	i := strings.IndexFunc(release, func(r rune) bool { return r != '.' && (r < '0' || r > '9') })
	if i >= 0 {
		release = release[:i]
	}
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return Version{}, fmt.Errorf("release %q has no MAJOR.MINOR", release)
	}
	return ParseVersion(parts[0] + "." + parts[1])
}

func decimal(s string) bool {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Compare returns -1, 0 or +1 as v is older than, the same as, or newer
// than w.
func (v Version) Compare(w Version) int {
	switch {
	case v.Major != w.Major:
		return cmpInt(v.Major, w.Major)
	default:
		return cmpInt(v.Minor, w.Minor)
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// AtLeast reports whether v is major.minor or newer.
func (v Version) AtLeast(major, minor int) bool {
	return v.Compare(Version{major, minor}) >= 0
}

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Kernel is one kernel configuration.
type Kernel struct {
	// Version is the kernel whose rules the model follows where they
	// differ between versions.
	Version Version
	// MemoryFailure is CONFIG_MEMORY_FAILURE: poison is reported as
	// BUS_MCEERR_AR with the page shift, else as BUS_ADRERR.
	MemoryFailure bool
	// ZeroPage: read faults on anonymous private memory map the shared zero
	// page (off: pvm_no_zero_page, a new zeroed page each time).
	ZeroPage bool
	// Vsyscall is the x86_64 vsyscall mode.
	Vsyscall Vsyscall
	// StackGuardGap is the gap kept below a growing stack, in pages.
	StackGuardGap uint64
	// PKeys: x86_64 memory protection keys (exec-only pages, SEGV_PKUERR).
	PKeys bool
	// EPAN: the arm64 CPU has Enhanced PAN (ARM64_HAS_EPAN): PROT_EXEC-only
	// memory is execute-only (PAGE_EXECONLY) and a read of it needs
	// VM_READ or VM_WRITE; without it exec-only memory is readable and
	// VM_EXEC alone lets a read through.
	EPAN bool
	// THP is the transparent huge page mode.
	THP THP
	// Swap is the swap space in bytes.
	Swap uint64
	// MmapMinAddr is the kernel's mmap_min_addr (vm.mmap_min_addr raised
	// to CONFIG_LSM_MMAP_MIN_ADDR): no stack grows below it.
	MmapMinAddr uint64
	// PgtableLevels is 4 (x86_64 4-level, riscv64 Sv48) or 5 (x86_64 LA57,
	// riscv64 Sv57).
	PgtableLevels int
	// ReadAheadKB is the read-ahead of the disk files live on
	// (/sys/block/DEV/queue/read_ahead_kb): a page-cache miss in a mapping
	// reads this much around the fault (mmap read-around).
	ReadAheadKB uint64
	// MaxMapCount is vm.max_map_count: how many VMAs an address space may
	// have before mmap, munmap and the splits of mprotect and madvise
	// fail with ENOMEM.
	MaxMapCount uint64
	// PageSize is the base page size in bytes (CONFIG_PAGE_SIZE_*: 4, 16
	// or 64 KiB), or 0 for the architecture's default: the page size of
	// Debian's kernel for it (DefaultPageSize). A machine resolves it
	// where the architecture is known (ResolvePageSize).
	PageSize uint64
}

// Page sizes.
const (
	PageSize4K  = 4 << 10
	PageSize16K = 16 << 10
	PageSize64K = 64 << 10
)

// archPageSizes lists, per architecture, the base page sizes its kernel
// can be built with that the model has, and the default: Debian's
// kernel's page size, by version where it changed. An arch missing here
// has 4 KiB pages only (x86_64, riscv64, s390x). Architectures being
// added fill in their row.
var archPageSizes = map[string]struct {
	sizes []uint64
	// def returns the default for kernel v.
	def func(v Version) uint64
}{
	// CONFIG_ARM64_{4K,16K,64K}_PAGES; Debian's arm64 kernel: 4 KiB.
	"arm64": {[]uint64{PageSize4K, PageSize16K, PageSize64K}, func(Version) uint64 { return PageSize4K }},
	// CONFIG_PPC_{4K,64K}_PAGES; Debian's ppc64el kernel: 64 KiB at 6.1,
	// 4 KiB from 6.12. The model has 4 KiB only for now: radix's 64 KiB
	// tree has a 5-bit PTE level (2 MiB PMD pages), which the model's
	// tables (PAGE_SHIFT-3 index bits below the top) cannot yet express.
	"ppc64le": {[]uint64{PageSize4K}, func(Version) uint64 { return PageSize4K }},
	// CONFIG_PAGE_SIZE_{4,16,64}KB; Debian's loong64 kernel: 16 KiB.
	"loongarch64": {[]uint64{PageSize4K, PageSize16K, PageSize64K}, func(Version) uint64 { return PageSize16K }},
}

// PageSizes returns the base page sizes arch may be configured with.
func PageSizes(arch string) []uint64 {
	if a, ok := archPageSizes[arch]; ok {
		return a.sizes
	}
	return []uint64{PageSize4K}
}

// DefaultPageSize returns arch's base page size at kernel v when none is
// configured: Debian's kernel's.
func DefaultPageSize(arch string, v Version) uint64 {
	if a, ok := archPageSizes[arch]; ok {
		return a.def(v)
	}
	return PageSize4K
}

// ResolvePageSize returns k with its page size set for arch: the
// configured one, which must be one arch has, or the default.
func (k Kernel) ResolvePageSize(arch string) (Kernel, error) {
	if k.PageSize == 0 {
		k.PageSize = DefaultPageSize(arch, k.Version)
		return k, nil
	}
	sizes := PageSizes(arch)
	for _, s := range sizes {
		if s == k.PageSize {
			return k, nil
		}
	}
	names := make([]string, len(sizes))
	for i, s := range sizes {
		names[i] = showPageSize(s)
	}
	return k, fmt.Errorf("config page_size=%s: %s has %s pages only", showPageSize(k.PageSize), arch, strings.Join(names, ", "))
}

// PageShift returns log2 of the page size (PAGE_SHIFT), 12 while it is
// not resolved.
func (k Kernel) PageShift() uint {
	switch k.PageSize {
	case PageSize16K:
		return 14
	case PageSize64K:
		return 16
	}
	return 12
}

func showPageSize(n uint64) string {
	if n == 0 {
		return "default"
	}
	return strconv.FormatUint(n>>10, 10) + "k"
}

// Default returns the configuration of a stock x86_64 distribution kernel,
// the defaults of the scenario language.
func Default() Kernel {
	return Kernel{
		Version:       Version{6, 18},
		MemoryFailure: true,
		ZeroPage:      true,
		Vsyscall:      VsyscallXOnly,
		StackGuardGap: 256,
		PKeys:         false,
		THP:           THPMadvise,
		Swap:          0,
		MmapMinAddr:   65536,
		PgtableLevels: 4,
		ReadAheadKB:   128,
		MaxMapCount:   65530,
	}
}

// key describes one configuration key: how to set it and how to show it.
type key struct {
	name   string
	values string // for help and errors
	set    func(k *Kernel, v string) error
	get    func(k Kernel) string
}

func parseYN(v string) (bool, error) {
	switch v {
	case "y":
		return true, nil
	case "n":
		return false, nil
	}
	return false, fmt.Errorf("want y or n")
}

// setYN sets *b from v, leaving it unchanged when v is not y or n.
func setYN(b *bool, v string) error {
	x, err := parseYN(v)
	if err == nil {
		*b = x
	}
	return err
}

func showYN(b bool) string {
	if b {
		return "y"
	}
	return "n"
}

var keys = []key{
	{"kernel", "MAJOR.MINOR",
		func(k *Kernel, v string) error {
			ver, err := ParseVersion(v)
			if err == nil {
				k.Version = ver
			}
			return err
		},
		func(k Kernel) string { return k.Version.String() }},
	{"memory_failure", "y|n",
		func(k *Kernel, v string) error { return setYN(&k.MemoryFailure, v) },
		func(k Kernel) string { return showYN(k.MemoryFailure) }},
	{"zero_page", "on|off",
		func(k *Kernel, v string) error {
			switch v {
			case "on":
				k.ZeroPage = true
			case "off":
				k.ZeroPage = false
			default:
				return fmt.Errorf("want on or off")
			}
			return nil
		},
		func(k Kernel) string {
			if k.ZeroPage {
				return "on"
			}
			return "off"
		}},
	{"vsyscall", "xonly|emulate|none",
		func(k *Kernel, v string) error {
			for m := VsyscallXOnly; m <= VsyscallNone; m++ {
				if m.String() == v {
					k.Vsyscall = m
					return nil
				}
			}
			return fmt.Errorf("want xonly, emulate or none")
		},
		func(k Kernel) string { return k.Vsyscall.String() }},
	{"stack_guard_gap", "pages",
		func(k *Kernel, v string) error {
			n, err := ParseNumber(v)
			if err != nil {
				return err
			}
			k.StackGuardGap = n
			return nil
		},
		func(k Kernel) string { return strconv.FormatUint(k.StackGuardGap, 10) }},
	{"pkeys", "y|n",
		func(k *Kernel, v string) error { return setYN(&k.PKeys, v) },
		func(k Kernel) string { return showYN(k.PKeys) }},
	{"epan", "y|n",
		func(k *Kernel, v string) error { return setYN(&k.EPAN, v) },
		func(k Kernel) string { return showYN(k.EPAN) }},
	{"thp", "always|madvise|never",
		func(k *Kernel, v string) error {
			for _, m := range []THP{THPAlways, THPMadvise, THPNever} {
				if m.String() == v {
					k.THP = m
					return nil
				}
			}
			return fmt.Errorf("want always, madvise or never")
		},
		func(k Kernel) string { return k.THP.String() }},
	{"swap", "size",
		func(k *Kernel, v string) error {
			n, err := ParseSize(v)
			if err != nil {
				return err
			}
			k.Swap = n
			return nil
		},
		func(k Kernel) string { return strconv.FormatUint(k.Swap, 10) }},
	{"mmap_min_addr", "bytes",
		func(k *Kernel, v string) error {
			n, err := ParseSize(v)
			if err != nil {
				return err
			}
			k.MmapMinAddr = n
			return nil
		},
		func(k Kernel) string { return strconv.FormatUint(k.MmapMinAddr, 10) }},
	{"read_ahead_kb", "KiB",
		func(k *Kernel, v string) error {
			n, err := ParseNumber(v)
			if err != nil {
				return err
			}
			k.ReadAheadKB = n
			return nil
		},
		func(k Kernel) string { return strconv.FormatUint(k.ReadAheadKB, 10) }},
	{"pgtable_levels", "4|5",
		func(k *Kernel, v string) error {
			switch v {
			case "4":
				k.PgtableLevels = 4
			case "5":
				k.PgtableLevels = 5
			default:
				return fmt.Errorf("want 4 or 5")
			}
			return nil
		},
		func(k Kernel) string { return strconv.Itoa(k.PgtableLevels) }},
	{"max_map_count", "count",
		func(k *Kernel, v string) error {
			n, err := ParseNumber(v)
			if err != nil {
				return err
			}
			if n > 1<<31-1 {
				return fmt.Errorf("want at most %d (an int sysctl)", 1<<31-1)
			}
			k.MaxMapCount = n
			return nil
		},
		func(k Kernel) string { return strconv.FormatUint(k.MaxMapCount, 10) }},
	{"page_size", "4k|16k|64k",
		func(k *Kernel, v string) error {
			for _, n := range []uint64{PageSize4K, PageSize16K, PageSize64K} {
				if v == showPageSize(n) {
					k.PageSize = n
					return nil
				}
			}
			return fmt.Errorf("want 4k, 16k or 64k")
		},
		func(k Kernel) string { return showPageSize(k.PageSize) }},
}

func lookup(name string) (key, bool) {
	for _, k := range keys {
		if k.name == name {
			return k, true
		}
	}
	return key{}, false
}

// Keys lists the configuration keys, sorted.
func Keys() []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k.name)
	}
	sort.Strings(out)
	return out
}

// Values describes the values key takes ("y|n"), or "" for an unknown key.
func Values(name string) string {
	k, _ := lookup(name)
	return k.values
}

// Set sets key to value. The error says what was wrong.
func (k *Kernel) Set(name, value string) error {
	kk, ok := lookup(name)
	if !ok {
		return fmt.Errorf("unknown config key %q (known: %s)", name, strings.Join(Keys(), ", "))
	}
	if err := kk.set(k, value); err != nil {
		return fmt.Errorf("config %s=%s: %v (%s)", name, value, err, kk.values)
	}
	return nil
}

// Get returns the value of key as a scenario would write it.
func (k Kernel) Get(name string) (string, bool) {
	kk, ok := lookup(name)
	if !ok {
		return "", false
	}
	return kk.get(k), true
}

// String shows every key=value, sorted by key.
// MarshalJSON writes the configuration as the keys of the language and
// their values, as a `config` line would give them.
func (k Kernel) MarshalJSON() ([]byte, error) {
	m := make(map[string]string, len(keys))
	for _, name := range Keys() {
		m[name], _ = k.Get(name)
	}
	return json.Marshal(m)
}

func (k Kernel) String() string {
	var b strings.Builder
	for i, name := range Keys() {
		if i > 0 {
			b.WriteByte(' ')
		}
		v, _ := k.Get(name)
		b.WriteString(name + "=" + v)
	}
	return b.String()
}

// ParseNumber parses a decimal or 0x-prefixed hexadecimal number.
func ParseNumber(s string) (uint64, error) {
	var n uint64
	var err error
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		if len(s) == 2 {
			return 0, fmt.Errorf("want hex digits after 0x")
		}
		n, err = strconv.ParseUint(s[2:], 16, 64)
	} else {
		n, err = strconv.ParseUint(s, 10, 64)
	}
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("number %s does not fit in 64 bits", s)
		}
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return n, nil
}

// Size units of the scenario language: p = 4096-byte pages, k, M, G binary.
var sizeUnits = map[byte]uint64{'p': 4096, 'k': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}

// ParseSize parses a size: a number, or a number followed by a unit
// (p, k, M, G), as "3p", "2M" or "0x10p". No unit letter is a hex digit.
func ParseSize(s string) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("want a size")
	}
	mult := uint64(1)
	if u, ok := sizeUnits[s[len(s)-1]]; ok {
		mult = u
		s = s[:len(s)-1]
	}
	n, err := ParseNumber(s)
	if err != nil {
		return 0, err
	}
	if n > ^uint64(0)/mult {
		return 0, fmt.Errorf("size does not fit in 64 bits")
	}
	return n * mult, nil
}
