//go:build linux

package hostrun

import "golang.org/x/sys/unix"

// Linux ABI numbers the host runner sends to the executor. The mmap flags
// that powerpc numbers its own way (MAP_LOCKED 0x80, MAP_NORESERVE 0x40:
// arch/powerpc/include/uapi/asm/mman.h) come from x/sys/unix, which has
// each GOARCH's: the driver runs on the kernel it drives (natively, or as
// a qemu guest's /init).
const (
	protRead  = 0x1
	protWrite = 0x2
	protExec  = 0x4

	mapShared         = 0x01
	mapPrivate        = 0x02
	mapAnonymous      = 0x20
	mapGrowsDown      = 0x0100
	mapLocked         = unix.MAP_LOCKED    // 0x2000, powerpc 0x80
	mapNoReserve      = unix.MAP_NORESERVE // 0x4000, powerpc 0x40
	mapPopulate       = 0x8000
	mapHugetlb        = 0x40000
	mapFixedNoReplace = 0x100000

	madvRandom        = 1
	madvDontneed      = 4
	madvHWPoison      = 100
	madvPopulateRead  = 22
	madvPopulateWrite = 23
	madvGuardInstall  = 102
	madvGuardRemove   = 103

	// userfaultfd (include/uapi/linux/userfaultfd.h).
	uffdFeaturePagefaultFlagWP  = 1 << 0
	uffdFeatureMissingHugetlbfs = 1 << 4
	uffdFeatureMissingShmem     = 1 << 5
	uffdFeatureSigbus           = 1 << 7
	uffdFeatureThreadID         = 1 << 8
	uffdFeatureMinorHugetlbfs   = 1 << 9
	uffdFeatureMinorShmem       = 1 << 10
	uffdFeatureWPHugetlbfsShmem = 1 << 12
	uffdFeaturePoison           = 1 << 14

	uffdRegisterMissing = 1
	uffdRegisterWP      = 2
	uffdRegisterMinor   = 4

	uffdPagefaultWrite = 1
	uffdPagefaultWP    = 2
	uffdPagefaultMinor = 4
)
