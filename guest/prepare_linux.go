//go:build linux

package guest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/faultline/faultline/host"
	"github.com/faultline/faultline/timeout"
)

// Prepared is a bootable guest: its Machine, the kernel it runs, and a
// work directory Close removes.
type Prepared struct {
	Machine Machine
	Kernel  *Kernel
	dir     string
}

// Close removes the initramfs, the disk and the builds.
func (p *Prepared) Close() error { return os.RemoveAll(p.dir) }

// Prepare fetches the kernel of spec (from the cache when it is there),
// cross-builds the executor and the guest's faultline (from the module
// source ModuleRoot finds), writes the initramfs with the disk modules
// and the scenarios, and makes the scratch disk, in a private temporary
// directory of the cache.
func Prepare(ctx context.Context, spec Spec, scenarios []Scenario, scale timeout.Scale, log func(string)) (*Prepared, error) {
	if miss := Missing(spec.Arch); len(miss) > 0 {
		return nil, fmt.Errorf("guest: %s guests need %v: run `faultline setup --arch %s` (apt-get install)", spec.Arch, miss, spec.Arch)
	}
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	k, err := Fetch(ctx, cache, spec, log)
	if err != nil {
		return nil, err
	}
	removeStale(cache)
	dir, err := os.MkdirTemp(cache, "run-")
	if err != nil {
		return nil, err
	}
	p := &Prepared{Kernel: k, dir: dir}
	fail := func(err error) (*Prepared, error) {
		p.Close()
		return nil, err
	}
	mods, err := ResolveModules(ctx, k.Modules, BoardOf(spec.Arch).DiskModules)
	if err != nil {
		return fail(err)
	}
	src := host.Source()
	log("cross-compiling the executor for " + spec.Arch)
	board := BoardOf(spec.Arch)
	sysroot := ""
	if len(board.Sysroot) > 0 {
		sysroot = filepath.Join(cache, "sysroot", board.Debian+"-"+spec.Suite)
		if _, err := fetchTree(ctx, cache, board.Debian, spec.Suite, board.Sysroot, sysroot, log); err != nil {
			return fail(err)
		}
	}
	exe, err := BuildExecutor(ctx, spec.Arch, src, dir, sysroot)
	if err != nil {
		return fail(err)
	}
	log("building faultline for " + spec.Arch + " from " + root)
	fl, err := BuildFaultline(ctx, root, spec.Arch, dir)
	if err != nil {
		return fail(err)
	}
	in := Initramfs{Init: fl, Executor: exe, ExecSrc: src, Modules: mods, Scenarios: scenarios}
	initrd := filepath.Join(dir, "initramfs.cpio")
	if err := in.Write(initrd); err != nil {
		return fail(err)
	}
	os.Remove(filepath.Join(dir, "executor"))
	os.Remove(filepath.Join(dir, "faultline"))
	disk := filepath.Join(dir, "scratch.ext4")
	if err := MakeDisk(ctx, disk); err != nil {
		return fail(err)
	}
	image := k.Image
	if board.ZBoot {
		// Decompressed once, beside the image in the cache.
		image = k.Image + ".efi"
		if _, err := os.Stat(image); err != nil {
			log("decompressing the EFI zboot image " + k.Image)
			if err := UnpackZBoot(ctx, k.Image, image); err != nil {
				return fail(err)
			}
		}
	}
	qemu := ""
	if board.privateFor(spec.Version) {
		if qemu, err = privateQemu(ctx, cache, board, log); err != nil {
			return fail(err)
		}
	}
	bios := ""
	if fw := board.Firmware; fw.Package != "" {
		dir := filepath.Join(cache, "tools", fw.Package+"-"+spec.Suite)
		if _, err := fetchTree(ctx, cache, board.Debian, spec.Suite, []string{fw.Package}, dir, log); err != nil {
			return fail(err)
		}
		bios = filepath.Join(dir, fw.File)
		if _, err := os.Stat(bios); err != nil {
			return fail(fmt.Errorf("guest: the firmware package %s has no %s: %w", fw.Package, fw.File, err))
		}
	}
	p.Machine = Machine{Arch: spec.Arch, Kernel: image, Initrd: initrd, Disk: disk, Scale: scale, Qemu: qemu, Bios: bios}
	return p, nil
}

// staleAge is how old a run directory of a killed run must be to go.
const staleAge = 6 * time.Hour

// removeStale removes the run directories that runs killed outright
// (SIGKILL) left in the cache, once no run can still use them.
func removeStale(cache string) {
	dirs, _ := filepath.Glob(filepath.Join(cache, "run-*"))
	for _, d := range dirs {
		if fi, err := os.Lstat(d); err == nil && fi.IsDir() && time.Since(fi.ModTime()) > staleAge {
			os.RemoveAll(d)
		}
	}
}
