//go:build linux

package hostrun

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// mmapHintProbe is the hint the mmap_min_addr probe passes: one page, the
// lowest non-zero hint (a zero hint is no hint).
const mmapHintProbe = 4096

// mmapMinAddrCeiling bounds a measured mmap_min_addr: every kernel default
// and every distribution's sysctl is at most 64 KiB; an answer above 1 MiB
// means the hint was not rounded but ignored (the range taken), and the
// probe says nothing.
const mmapMinAddrCeiling = 1 << 20

// measureMmapMinAddr measures the kernel's effective mmap_min_addr
// (vm.mmap_min_addr raised to CONFIG_LSM_MMAP_MIN_ADDR) with one mapping:
// do_mmap rounds a hint below it up to it (round_hint_to_min, mm/mmap.c,
// Linux 6.1 and 6.12), for root as for anyone (the capability check that
// lets root map below the sysctl applies to MAP_FIXED only). mapAt maps a
// page with a hint and returns the address the kernel chose, unmapping it.
// It returns the value and how it was found, or ok false.
func measureMmapMinAddr(mapAt func(hint uintptr) (uintptr, error)) (v uint64, how string, ok bool) {
	got, err := mapAt(mmapHintProbe)
	switch {
	case err != nil:
		return 0, fmt.Sprintf("a hinted mmap failed: %v", err), false
	case got == mmapHintProbe:
		// Honoured as given: the minimum is at most a page, and a page
		// is all the kernel's page-granular checks can tell apart.
		return mmapHintProbe, "probe: a mmap hinted at 4096 is placed there (mmap_min_addr at most 4096)", true
	case got < mmapHintProbe || got > mmapMinAddrCeiling || got%mmapHintProbe != 0:
		return 0, fmt.Sprintf("probe: a mmap hinted at 4096 went to %#x, not a rounded-up hint", got), false
	}
	return uint64(got), fmt.Sprintf("probe: a mmap hinted at 4096 is placed at %#x (do_mmap rounds a hint up to mmap_min_addr)", got), true
}

// mapHinted maps one PROT_NONE page of this process with hint (not
// MAP_FIXED) and unmaps it at once, returning where the kernel put it.
func mapHinted(hint uintptr) (uintptr, error) {
	page := uintptr(os.Getpagesize())
	addr, _, errno := syscall.Syscall6(syscall.SYS_MMAP, hint, page, syscall.PROT_NONE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS, ^uintptr(0), 0)
	if errno != 0 {
		return 0, errno
	}
	syscall.Syscall(syscall.SYS_MUNMAP, addr, page, 0)
	return addr, nil
}

// pkeySyscalls are pkey_alloc and pkey_free (x86_64's numbers; the other
// arches use asm-generic's).
func pkeySyscalls() (alloc, free uintptr, ok bool) {
	switch runtime.GOARCH {
	case "amd64":
		return 330, 331, true
	case "arm64", "riscv64", "loong64":
		return 289, 290, true
	}
	return 0, 0, false
}

// probePkeys allocates a protection key and frees it: pkey_alloc succeeds
// only where the CPU and the kernel both support protection keys (x86
// OSPKE; arm64 POE from Linux 6.12), and answers ENOSPC, EINVAL or ENOSYS
// elsewhere. It returns whether it succeeded, and the error.
func probePkeys() (bool, error) {
	alloc, free, ok := pkeySyscalls()
	if !ok {
		return false, syscall.ENOSYS
	}
	key, _, errno := syscall.Syscall(alloc, 0, 0, 0)
	if errno != 0 {
		return false, errno
	}
	syscall.Syscall(free, key, 0, 0)
	return true, nil
}
