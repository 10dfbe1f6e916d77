//go:build linux

package host

import (
	"fmt"
	"os"
	"syscall"
)

// Filesystem magics (statfs f_type, include/uapi/linux/magic.h).
const (
	tmpfsMagic = 0x01021994
	ramfsMagic = 0x858458f6
)

// fsNames names the f_type of the filesystems a scratch directory is
// likely to be on, for messages.
var fsNames = map[int64]string{
	tmpfsMagic: "tmpfs", ramfsMagic: "ramfs",
	0xef53: "ext2/3/4", 0x58465342: "xfs", 0x9123683e: "btrfs",
	0x794c7630: "overlayfs", 0x01021997: "9p", 0x6a656a63: "virtiofs",
	0x2fc12fc1: "zfs", 0x6969: "nfs", 0xf2f52010: "f2fs",
}

// FSName names a filesystem type as statfs reports it.
func FSName(magic int64) string {
	if n, ok := fsNames[magic]; ok {
		return n
	}
	return fmt.Sprintf("type %#x", magic)
}

// inMemoryFS reports whether magic is a filesystem whose files are
// shmem or page-cache-only (tmpfs, ramfs): their pages are swap-backed or
// unevictable, a fault on them is never a major one, and memory cgroups
// charge them as shmem. Scenario files there differ from a disk file on
// the model's kernel.
func inMemoryFS(magic int64) bool { return magic == tmpfsMagic || magic == ramfsMagic }

// statfsType returns the f_type of the filesystem dir is on.
func statfsType(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Type), nil
}

// fallbackScratch lists the directories tried, in order, when TMPDIR is
// not set and the temporary directory is on tmpfs (/tmp often is).
var fallbackScratch = []string{"/var/tmp"}

// ScratchBase returns the directory a run's private directory (its
// socket and the scenario's files) is made in: $TMPDIR when it is set,
// else the first of /tmp and /var/tmp on a disk filesystem. A TMPDIR (or,
// without one, every candidate) on tmpfs or ramfs is refused with an
// error naming it and its filesystem type: the scenario's files must live
// on a disk filesystem, as the model's do.
func ScratchBase() (string, error) {
	return scratchBase(os.Getenv("TMPDIR"), os.TempDir(), fallbackScratch, statfsType)
}

// scratchBase is ScratchBase with its inputs: env the TMPDIR setting,
// def the default temporary directory, more the fallbacks, fstype statfs.
func scratchBase(env, def string, more []string, fstype func(string) (int64, error)) (string, error) {
	if env != "" {
		t, err := fstype(env)
		switch {
		case err != nil:
			return "", fmt.Errorf("host: the scratch directory TMPDIR=%s: %w", env, err)
		case inMemoryFS(t):
			return "", fmt.Errorf("host: the scratch directory TMPDIR=%s is on %s: the scenario's files must be on a disk filesystem "+
				"(on %s, file pages are shmem: never evicted to disk nor read back in a major fault, and memory cgroups charge them as shmem, "+
				"so file scenarios differ from the model); set TMPDIR to a directory on a disk filesystem (ext4, xfs, btrfs)", env, FSName(t), FSName(t))
		}
		return env, nil
	}
	var seen []string
	for _, dir := range append([]string{def}, more...) {
		t, err := fstype(dir)
		if err != nil {
			seen = append(seen, fmt.Sprintf("%s: %v", dir, err))
			continue
		}
		if inMemoryFS(t) {
			seen = append(seen, fmt.Sprintf("%s is on %s", dir, FSName(t)))
			continue
		}
		return dir, nil
	}
	return "", fmt.Errorf("host: no scratch directory on a disk filesystem (%v): the scenario's files must not be on tmpfs or ramfs; set TMPDIR to a directory on a disk filesystem (ext4, xfs, btrfs)", seen)
}
