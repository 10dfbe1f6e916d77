//go:build linux

package hostrun

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/host"
	"github.com/faultline/faultline/timeout"
)

// Host is what this machine is and can do, detected once per run.
type Host struct {
	// Arch is the Linux name of the machine's architecture.
	Arch string `json:"arch"`
	// Kernel is the running kernel's release.
	Kernel string `json:"kernel"`
	// Root: the runner has the privileges memory cgroups, hugetlb pools
	// and root-only madvise need.
	Root bool `json:"root"`
	// Config is the kernel configuration, as far as it can be detected;
	// Detected lists the keys read off the machine (the others keep the
	// defaults and Notes say so).
	Config   config.Kernel   `json:"config"`
	Detected map[string]bool `json:"detected"`
	// How says, for each detected key, how it was found (a probe, a file
	// of /proc or /sys); docs/host-detection.md lists them all.
	How map[string]string `json:"how,omitempty"`
	// Missing maps each `needs` feature the host lacks to the reason.
	Missing map[string]string `json:"missing"`
	// UffdFeatures is the kernel's userfaultfd feature mask.
	UffdFeatures uint64 `json:"uffd_features"`
	// Memcg is where memory cgroups are made, and its version (1 or 2).
	Memcg        string `json:"memcg"`
	MemcgVersion int    `json:"memcg_version"`
	// Wchan: the kernel shows where a thread sleeps (/proc/PID/wchan), so
	// a statement is blocked when its thread is, by the kernel's own
	// account. Without it the runner falls back to a guess (asleep for a
	// while without answering), and Notes say so.
	Wchan bool     `json:"wchan"`
	Notes []string `json:"notes,omitempty"`
	// Ahead: when a run ends, start the next run's executor at once, in
	// the background, for a caller with work of its own between runs
	// (conform's models). Close stops an executor left unused.
	Ahead bool `json:"-"`

	ahead aheadState

	scale     timeout.Scale // Detect's, for the bounds of its clean-up
	bin       string        // the built executor
	memcgRoot string        // the memory hierarchy's root (Memcg is below it)
}

// Close removes what Detect made for the whole run: the executor, if it
// was built into a private temporary directory.
func (h *Host) Close() error {
	h.closeSpare()
	return host.RemoveBuild(h.bin)
}

// linuxArch maps GOARCH to the kernel's name, or keeps Go's where
// faultline knows none.
func linuxArch() string {
	if n := abi.ArchName(runtime.GOARCH); n != "" {
		return n
	}
	return runtime.GOARCH
}

// Detect builds the executor and probes the machine.
func Detect(ctx context.Context) (*Host, error) {
	bin, err := host.Build(ctx)
	if err != nil {
		return nil, fmt.Errorf("building the host executor: %w", err)
	}
	h := &Host{Arch: linuxArch(), Root: os.Geteuid() == 0, Config: config.Default(), Detected: map[string]bool{}, Missing: map[string]string{}, bin: bin, scale: timeout.FromContext(ctx)}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
		if v, err := config.ReleaseVersion(h.Kernel); err == nil {
			h.set("kernel", v.String(), "/proc/sys/kernel/osrelease")
		} else {
			h.Notes = append(h.Notes, fmt.Sprintf("kernel: %v", err))
		}
	}
	h.detectConfig()
	if err := h.probe(ctx); err != nil {
		h.Close()
		return nil, err
	}
	h.detectMemcg()
	h.detectLRU(lruGenEnabled)
	h.detectHugetlb()
	if note := h.cleanLeftovers(); note != "" {
		h.Notes = append(h.Notes, note)
	}
	return h, nil
}

func (h *Host) set(key, value, source string) {
	if err := h.Config.Set(key, value); err != nil {
		h.Notes = append(h.Notes, fmt.Sprintf("%s: %v", source, err))
		return
	}
	h.Detected[key] = true
	if h.How == nil {
		h.How = map[string]string{}
	}
	h.How[key] = source
}

func readTrim(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// detectConfig reads the configuration keys off /proc and /sys.
func (h *Host) detectConfig() {
	cmdline, _ := readTrim("/proc/cmdline")
	args := map[string]string{}
	for _, f := range strings.Fields(cmdline) {
		k, v, _ := strings.Cut(f, "=")
		args[k] = v
	}
	if v, ok := args["stack_guard_gap"]; ok {
		h.set("stack_guard_gap", v, "stack_guard_gap= on the kernel command line")
	} else {
		h.set("stack_guard_gap", "256", "default")
	}
	if v, ok := readTrim("/proc/sys/vm/max_map_count"); ok {
		h.set("max_map_count", v, "/proc/sys/vm/max_map_count")
	}
	if v, how, ok := measureMmapMinAddr(mapHinted); ok {
		h.set("mmap_min_addr", strconv.FormatUint(v, 10), how)
	} else if v, ok := mmapMinAddr(); ok {
		h.set("mmap_min_addr", v, "vm.mmap_min_addr, raised to CONFIG_LSM_MMAP_MIN_ADDR where /proc/config.gz has it (the probe failed: "+how+")")
	}
	if v, ok := readTrim("/sys/kernel/mm/transparent_hugepage/enabled"); ok {
		if i, j := strings.Index(v, "["), strings.Index(v, "]"); i >= 0 && j > i {
			h.set("thp", v[i+1:j], "transparent_hugepage/enabled")
		}
	}
	if ok, err := probePkeys(); ok {
		h.set("pkeys", "y", "probe: pkey_alloc succeeded")
	} else {
		h.set("pkeys", "n", fmt.Sprintf("probe: pkey_alloc failed (%v)", err))
	}
	if v := meminfo("SwapTotal"); v >= 0 {
		h.set("swap", strconv.FormatInt(v*1024, 10), "/proc/meminfo SwapTotal")
	}
	// Its sysctls exist only with CONFIG_MEMORY_FAILURE (mm/memory-failure.c
	// registers them); /proc/config.gz, where there is one, must agree.
	mf := "n"
	if _, err := os.Stat("/proc/sys/vm/memory_failure_early_kill"); err == nil {
		mf = "y"
	}
	h.set("memory_failure", mf, map[string]string{"y": "/proc/sys/vm/memory_failure_early_kill exists", "n": "no /proc/sys/vm/memory_failure_early_kill"}[mf])
	if c := kconfig("CONFIG_MEMORY_FAILURE"); c != "" && c != mf {
		h.Notes = append(h.Notes, fmt.Sprintf("memory_failure: /proc/config.gz says %s, the sysctls say %s: the sysctls are used", c, mf))
	}
	h.detectPageSize(os.Getpagesize())
	if h.Arch == "x86_64" {
		h.set("vsyscall", vsyscallMode(), "/proc/self/maps")
	}
	if h.Arch == "arm64" {
		if unreadable, ok := execOnlyUnreadable(); ok {
			v := "n"
			if unreadable {
				v = "y"
			}
			h.set("epan", v, "a read of PROT_EXEC-only memory")
		} else {
			h.Notes = append(h.Notes, "epan: a PROT_EXEC-only page could not be mapped")
		}
	}
	if base, err := host.ScratchBase(); err != nil {
		h.Notes = append(h.Notes, "read_ahead_kb not detected: "+err.Error())
	} else if kb, ok := readAheadKB(base); ok {
		h.set("read_ahead_kb", kb, "read_ahead_kb of the disk under the scratch directory "+base)
	}
}

// pageSizeKey is the configuration key of the kernel's base page (4k,
// 16k, 64k).
const pageSizeKey = "page_size"

// detectPageSize records the kernel's base page (getpagesize: AT_PAGESZ)
// as page_size: the model of the host's arch runs at it (or refuses a
// size the arch's model does not have, naming it).
func (h *Host) detectPageSize(size int) {
	h.set(pageSizeKey, strconv.Itoa(size>>10)+"k", "getpagesize (the kernel's base page)")
}

// execOnlyUnreadable reads a fresh PROT_EXEC-only page: with Enhanced
// PAN an arm64 kernel maps it execute-only and the read faults
// (SEGV_ACCERR), which SetPanicOnFault turns into a panic of this
// goroutine alone; without EPAN it reads 0. ok is false when the page
// cannot be mapped.
func execOnlyUnreadable() (unreadable, ok bool) {
	mem, err := syscall.Mmap(-1, 0, os.Getpagesize(), syscall.PROT_EXEC, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return false, false
	}
	defer syscall.Munmap(mem)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			unreadable, ok = true, true
		}
	}()
	runtime.KeepAlive(mem[0]) // the load itself, not optimized away
	return false, true
}

// readAheadKB reads the read-ahead of the block device dir lives on, where
// the executor's files are made.
func readAheadKB(dir string) (string, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return "", false
	}
	dev := uint64(st.Dev)
	major := (dev>>8)&0xfff | (dev>>32)&^0xfff
	minor := dev&0xff | (dev>>12)&^0xff
	base := fmt.Sprintf("/sys/dev/block/%d:%d", major, minor)
	// A partition's queue is its disk's.
	for _, p := range []string{base + "/queue/read_ahead_kb", base + "/../queue/read_ahead_kb"} {
		if v, ok := readTrim(p); ok {
			return v, true
		}
	}
	return "", false
}

// probe asks the executor what only a running process can find out. Its
// bounds are multiplied by the scale ctx carries (timeout.FromContext).
func (h *Host) probe(ctx context.Context) error {
	scale := timeout.FromContext(ctx)
	ctx, cancel := context.WithTimeout(ctx, scale.Of(20*time.Second))
	defer cancel()
	ex, err := host.Start(ctx, h.bin)
	if err != nil {
		return fmt.Errorf("starting the host executor: %w", err)
	}
	defer ex.Close()
	main, err := ex.Actor("main", scale.Of(5*time.Second))
	if err != nil {
		return err
	}
	do := func(cmd string) (host.Reply, error) { return main.Do(cmd, scale.Of(5*time.Second)) }
	h.detectWchan(main, scale)

	if r, err := do("probe_zero_page"); err == nil && r.Kind == "ok" && len(r.Vals) == 1 {
		h.set("zero_page", map[bool]string{true: "on", false: "off"}[r.Vals[0] == 1], "probe: two fresh read-faulted pages share a PFN, or count nothing in Rss")
	} else {
		why := fmt.Sprintf("the executor answered %q", r.Kind+" "+r.Text)
		if r.Kind == "err" {
			why = "the probe failed: " + r.Errno.Error()
		}
		if err != nil {
			why = err.Error()
		}
		h.Notes = append(h.Notes, "zero_page not detected ("+why+"): default kept")
	}
	// 5-level paging: a hint above 47 bits is honoured only with 57-bit
	// user addresses (x86_64 LA57, riscv64 Sv57). Elsewhere the probe
	// means nothing: ppc64le and s390x map that high with 4 levels (a
	// larger window, an upgraded region table), and no other model reads
	// the key (Skip ignores its pins there).
	if h.Arch != "x86_64" && h.Arch != "riscv64" {
		h.Notes = append(h.Notes, "pgtable_levels: not detected on "+h.Arch+" (the key is x86_64's and riscv64's): default kept")
	}
	if h.Arch == "x86_64" || h.Arch == "riscv64" {
		r, err := do(fmt.Sprintf("mmap 4096 %d %d 0x%x - 0", protRead, mapPrivate|mapAnonymous|mapFixedNoReplace, uint64(1)<<50))
		if err == nil {
			if r.Kind == "ok" {
				h.set("pgtable_levels", "5", "probe: an address above 47 bits could be mapped")
			} else {
				h.set("pgtable_levels", "4", "probe: no address above 47 bits")
			}
		}
	}
	if r, err := do("probe_guard"); err != nil || r.Kind != "ok" {
		h.Missing["guard"] = "MADV_GUARD_INSTALL is not supported (Linux 6.13+)"
	}
	r, err := do("probe_uffd")
	switch {
	case err != nil || r.Kind != "ok" || len(r.Vals) == 0:
		h.Missing["uffd"] = uffdMissing(r, err)
		h.Missing["uffd-wp"] = h.Missing["uffd"]
		h.Missing["uffd-poison"] = h.Missing["uffd"]
		h.Missing["uffd-minor"] = h.Missing["uffd"]
	default:
		h.UffdFeatures = r.Vals[0]
		if h.UffdFeatures&uffdFeaturePagefaultFlagWP == 0 {
			h.Missing["uffd-wp"] = "userfaultfd write-protect is not supported"
		}
		if h.UffdFeatures&uffdFeaturePoison == 0 {
			h.Missing["uffd-poison"] = "UFFDIO_POISON is not supported"
		}
		// userfaultfd_api masks the minor features out where the arch
		// lacks CONFIG_HAVE_ARCH_USERFAULTFD_MINOR (s390x and ppc64le at
		// 6.1): registering MODE_MINOR is then EINVAL. An implied need
		// (minor mode in a register), not one a scenario names.
		if h.UffdFeatures&uffdFeatureMinorShmem == 0 {
			h.Missing["uffd-minor"] = "userfaultfd minor faults are not supported (no UFFD_FEATURE_MINOR_SHMEM: CONFIG_HAVE_ARCH_USERFAULTFD_MINOR)"
		}
	}
	return nil
}

// uffdMissing says why the userfaultfd probe failed, naming the sysctl
// that refuses it to unprivileged users (userfaultfd(2) is EPERM without
// CAP_SYS_PTRACE when vm.unprivileged_userfaultfd is 0).
func uffdMissing(r host.Reply, err error) string {
	switch {
	case err != nil:
		return "userfaultfd could not be probed: " + err.Error()
	case r.Kind == "err" && (r.Errno == syscall.EPERM || r.Errno == syscall.EACCES):
		if v, ok := readTrim("/proc/sys/vm/unprivileged_userfaultfd"); ok && v == "0" && os.Geteuid() != 0 {
			return "userfaultfd is refused to unprivileged users (vm.unprivileged_userfaultfd=0): run as root, or set the sysctl to 1"
		}
		return "userfaultfd(2) is refused: " + r.Errno.Error()
	case r.Kind == "err" && r.Errno == syscall.ENOSYS:
		return "userfaultfd is not built into this kernel (CONFIG_USERFAULTFD)"
	}
	return "userfaultfd is not available (the probe answered " + r.Kind + ")"
}

// detectWchan finds out whether the kernel shows where a thread sleeps:
// the idle actor main sleeps reading its socket, and /proc names the
// function unless the kernel hides it (it prints 0 to a reader without
// ptrace access, Linux 6.18 fs/proc/base.c proc_pid_wchan).
func (h *Host) detectWchan(main *host.Actor, scale timeout.Scale) {
	deadline := time.Now().Add(scale.Of(time.Second))
	var b backoff
	shown, why := wchanShown(func() (wchanReading, bool) {
		if !time.Now().Before(deadline) {
			return wchanReading{}, false
		}
		time.Sleep(b.step())
		st, ok := readTaskStatus(main.PID, main.TID)
		if !ok {
			return wchanReading{gone: true}, true
		}
		r := wchanReading{before: st}
		if st.state == 'S' {
			r.wchan = readWchan(main.PID, main.TID)
			r.after, _ = readTaskStatus(main.PID, main.TID)
		}
		return r, true
	})
	if shown {
		h.Wchan = true
		return
	}
	h.Notes = append(h.Notes, "the kernel does not show where threads sleep (/proc/PID/wchan: "+why+
		"): a statement counts as blocked once its thread has slept or stayed stopped for 200ms (× the timeout scale) without answering, whatever it waits on")
}

// wchanReading is one look at an idle thread: its status, and, when it
// was asleep, its wchan and its status again.
type wchanReading struct {
	before, after taskStatus
	wchan         string
	gone          bool // the status could not be read
}

// wchanHiddenAfter is how many zeros of a sleeping thread, in a row and
// with no name among them, prove that the kernel hides wchan.
const wchanHiddenAfter = 20

// wchanShown decides from readings of an idle thread (next, until it says
// no more) whether the kernel shows wchan. A sleeping thread can read "0"
// for a moment even where wchan is shown: get_wchan answers 0 while the
// task, its state already set, is still on its runqueue on the way into
// schedule() (Linux 6.18 kernel/sched/core.c). So one name proves wchan is
// shown, and only a run of zeros proves it hidden.
func wchanShown(next func() (wchanReading, bool)) (bool, string) {
	why, zeros := "main never slept", 0
	for zeros < wchanHiddenAfter {
		r, more := next()
		if !more {
			break
		}
		if r.gone {
			return false, "its status cannot be read"
		}
		if r.before.state != 'S' || r.after != r.before {
			continue // not asleep for the whole look
		}
		if r.wchan != "" && r.wchan != "0" {
			return true, ""
		}
		zeros++
		why = fmt.Sprintf("it reads %q for a sleeping thread, %d times", r.wchan, zeros)
	}
	return false, why
}

// detectMemcg finds a hierarchy with the memory controller (v2 if the
// unified hierarchy has it, else v1) and where in it a run's memory
// cgroups go (detectMemcgIn).
func (h *Host) detectMemcg() {
	if !h.Root {
		h.Missing["memcg"] = "memory cgroups need root"
		h.Missing["memcg-v1"] = h.Missing["memcg"]
		return
	}
	h.detectMemcgIn("/sys/fs/cgroup", readSelfCgroup())
}

// memcgV2Missing is why a scenario that needs cgroup v1's memory
// controller is skipped on v2.
const memcgV2Missing = "cgroup v2: lowering memory.max below what the group holds never fails with EBUSY " +
	"(memory_max_write reclaims, then OOM-kills), where v1's memory.limit_in_bytes answers EBUSY (mem_cgroup_resize_max)"

// detectMemcgIn is detectMemcg on the cgroup filesystem mounted at fsroot
// (the unified hierarchy itself, or v1's controllers below it), for a
// process whose /proc/self/cgroup reads self. A run's cgroups go below
// the driver's own cgroup where the hierarchy allows it (so a run stays
// inside whatever limits its caller is under, and its cgroups are the
// caller's to see), else at the hierarchy's root, with a note saying why.
// On v2 the root's cgroup.subtree_control must hold memory for its
// children to have memory.max: the runner enables it there when it does
// not (the root is exempt from the no-internal-process rule), as a guest's
// /init that mounted cgroup2 may not have.
func (h *Host) detectMemcgIn(fsroot, self string) {
	if c, ok := readTrim(filepath.Join(fsroot, "cgroup.controllers")); ok && hasWord(c, "memory") {
		h.memcgRoot, h.MemcgVersion = fsroot, 2
		h.Memcg = h.memcgRoot
		h.Missing["memcg-v1"] = memcgV2Missing
		own, ok := ownCgroup(self, "")
		switch {
		case !ok || own == "/":
		case !hasWord(readFirst(filepath.Join(h.memcgRoot, own, "cgroup.subtree_control")), "memory"):
			// A v2 cgroup holding processes (this one holds the driver)
			// cannot enable a controller for its children (the
			// no-internal-process rule).
			h.Notes = append(h.Notes, fmt.Sprintf("memory cgroups are made at the root of the unified hierarchy, not below this process's cgroup %s: it does not delegate the memory controller to its children (cgroup.subtree_control), and cannot while it holds processes", own))
		default:
			h.Memcg = h.childBase(filepath.Join(h.memcgRoot, own))
		}
		if h.Memcg == h.memcgRoot {
			ctl := filepath.Join(h.memcgRoot, "cgroup.subtree_control")
			if !hasWord(readFirst(ctl), "memory") {
				if err := writeControl(ctl, []byte("+memory")); err != nil {
					h.Missing["memcg"] = fmt.Sprintf("the unified hierarchy's root does not give its children the memory controller, and enabling it failed (+memory in %s: %v)", ctl, err)
					h.Memcg = ""
					return
				}
				h.Notes = append(h.Notes, "enabled the memory controller for the unified hierarchy's children (+memory in "+ctl+")")
			}
		}
		return
	}
	for _, dir := range []string{filepath.Join(fsroot, "memory"), filepath.Join(fsroot, "memory,cpu")} {
		if _, err := os.Stat(filepath.Join(dir, "memory.limit_in_bytes")); err == nil {
			h.memcgRoot, h.MemcgVersion = dir, 1
			h.Memcg = dir
			if own, ok := ownCgroup(self, "memory"); ok && own != "/" {
				h.Memcg = h.childBase(filepath.Join(dir, own))
			}
			return
		}
	}
	h.Missing["memcg"] = "no cgroup hierarchy has the memory controller"
	h.Missing["memcg-v1"] = h.Missing["memcg"]
}

// lruGenEnabled says whether the multi-generational LRU is on: absent
// without CONFIG_LRU_GEN, else a hexadecimal mask whose bit 0 is the
// feature itself (lru_gen_enabled, mm/vmscan.c).
const lruGenEnabled = "/sys/kernel/mm/lru_gen/enabled"

// detectLRU marks `lru` missing where the multi-generational LRU is
// enabled (path reads a mask with bit 0 set): reclaim then evicts by
// generation, not the page cache least recently used first, and a
// scenario whose outcome depends on which page reclaim picks differs from
// the model's two-list LRU. Debian's 6.12 and later kernels enable it
// (CONFIG_LRU_GEN_ENABLED=y); its 6.1 and this x86_64 host do not.
func (h *Host) detectLRU(path string) {
	v, ok := readTrim(path)
	if !ok {
		return // no CONFIG_LRU_GEN: the two-list LRU
	}
	mask, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(v), "0x"), 16, 32)
	if err != nil {
		h.Notes = append(h.Notes, fmt.Sprintf("lru: %s reads %q, not a mask: the two-list LRU assumed", path, v))
		return
	}
	if mask&1 != 0 {
		h.Missing["lru"] = fmt.Sprintf("the multi-generational LRU is enabled (%s = %s): reclaim evicts by generation, "+
			"not the least recently used page cache first as the model's two-list LRU does", path, v)
	}
}

// childBase returns base when a child cgroup can be made there (it makes
// and removes one to see), else the hierarchy's root, with a note.
func (h *Host) childBase(base string) string {
	probe := filepath.Join(base, newCgroupName())
	err := os.Mkdir(probe, 0o755)
	if err == nil {
		if err = os.Remove(probe); err == nil {
			return base
		}
	}
	h.Notes = append(h.Notes, fmt.Sprintf("memory cgroups are made at %s, not below this process's cgroup %s: %v", h.memcgRoot, base, err))
	return h.memcgRoot
}

// readSelfCgroup reads /proc/self/cgroup.
func readSelfCgroup() string {
	b, _ := os.ReadFile("/proc/self/cgroup")
	return string(b)
}

// ownCgroup returns the path of the process's cgroup in the v1 hierarchy
// of controller, or in the unified hierarchy when controller is "", from
// the contents of /proc/PID/cgroup (lines ID:CONTROLLERS:PATH).
func ownCgroup(procCgroup, controller string) (string, bool) {
	for _, line := range strings.Split(procCgroup, "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || !strings.HasPrefix(f[2], "/") || strings.Contains(f[2], "/..") {
			continue
		}
		if controller == "" && f[0] == "0" && f[1] == "" {
			return filepath.Clean(f[2]), true
		}
		if controller != "" && hasWord(strings.ReplaceAll(f[1], ",", " "), controller) {
			return filepath.Clean(f[2]), true
		}
	}
	return "", false
}

func hasWord(list, w string) bool { return strings.Contains(" "+list+" ", " "+w+" ") }

func readFirst(path string) string {
	v, _ := readTrim(path)
	return v
}

// detectHugetlb checks that 2 MiB huge pages can be reserved.
func (h *Host) detectHugetlb() {
	switch {
	case !h.Root:
		h.Missing["hugetlb"] = "the hugetlb pool needs root"
	case meminfo("Hugepagesize") != 2048:
		h.Missing["hugetlb"] = "the default huge page size is not 2 MiB"
	default:
		if _, err := os.Stat("/proc/sys/vm/nr_hugepages"); err != nil {
			h.Missing["hugetlb"] = "no /proc/sys/vm/nr_hugepages"
		}
	}
}

func cpuFlags() map[string]bool {
	out := map[string]bool{}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "flags" {
			for _, fl := range strings.Fields(v) {
				out[fl] = true
			}
			break
		}
	}
	return out
}

// meminfo returns a /proc/meminfo value in kB, or -1.
func meminfo(key string) int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == key {
			fs := strings.Fields(v)
			if len(fs) > 0 {
				n, err := strconv.ParseInt(fs[0], 10, 64)
				if err == nil {
					return n
				}
			}
		}
	}
	return -1
}

// mmapMinAddr is the kernel's effective mmap_min_addr: the sysctl, raised
// to CONFIG_LSM_MMAP_MIN_ADDR when security modules are built in
// (update_mmap_min_addr). Stacks stop growing there even for root, whom
// only the sysctl's bound on mmap does not concern.
func mmapMinAddr() (string, bool) {
	v, ok := readTrim("/proc/sys/vm/mmap_min_addr")
	if !ok {
		return "", false
	}
	dac, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return "", false
	}
	if kconfig("CONFIG_SECURITY") == "y" {
		if lsm, err := strconv.ParseUint(kconfig("CONFIG_LSM_MMAP_MIN_ADDR"), 10, 64); err == nil && lsm > dac {
			dac = lsm
		}
	}
	return strconv.FormatUint(dac, 10), true
}

// kconfig returns "y", "m" or "n" for option from /proc/config.gz, or ""
// when the kernel does not expose its configuration.
func kconfig(option string) string {
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		return ""
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return ""
	}
	b, err := io.ReadAll(io.LimitReader(z, 16<<20))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, option+"="); ok {
			return v
		}
		if line == "# "+option+" is not set" {
			return "n"
		}
	}
	return "n"
}

// vsyscallMode reads the vsyscall page's permissions in /proc/self/maps.
func vsyscallMode() string {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return "xonly"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasSuffix(line, "[vsyscall]") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], "r") {
				return "emulate"
			}
			return "xonly"
		}
	}
	return "none"
}
