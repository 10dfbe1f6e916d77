package guest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Scenario is one scenario file for the guest: its name on the host
// (positions in the guest's reports name it) and its source.
type Scenario struct {
	Name string `json:"name"`
	Src  []byte `json:"-"`
	// Path is where the guest finds it.
	Path string `json:"path"`
}

// Paths inside the guest.
const (
	GuestIndex   = "/scenarios/index.json" // []Scenario
	GuestModules = "/modules"              // NN-name.ko, loaded in order
	GuestHome    = "/root"                 // HOME: host.Build's cache is below
	GuestScratch = "/scratch"              // the scratch disk's mount point
)

// Initramfs is what goes into the guest's initramfs.
type Initramfs struct {
	Init      []byte // the guest's faultline, as /init
	Executor  []byte // the static executor
	ExecSrc   []byte // its source, which names it (ExecutorName)
	Modules   []Module
	Scenarios []Scenario
}

// Write writes the initramfs as a newc archive to path.
func (in Initramfs) Write(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	c := NewCpio(f)
	err = in.write(c)
	if err == nil {
		err = c.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (in Initramfs) write(c *Cpio) error {
	// The root itself: rootfs is a tmpfs whose root is 1777, which
	// host.Build's trust rules (nothing above its cache writable by
	// others) refuse; the kernel applies an entry's mode to an existing
	// directory too.
	if err := c.entry(".", cpioDir|0o755, nil); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		perm uint32
	}{{"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"tmp", 0o1777}, {GuestScratch, 0o755}, {GuestHome, 0o700},
		{GuestHome + "/.cache", 0o700}, {GuestHome + "/.cache/faultline", 0o700}} {
		if err := c.Dir(d.name, d.perm); err != nil {
			return err
		}
	}
	if err := c.File("init", 0o755, in.Init); err != nil {
		return err
	}
	// Where host.Build looks first: the guest's hostrun.Detect runs it.
	exe := GuestHome + "/.cache/faultline/" + ExecutorName(in.ExecSrc)
	sum := sha256.Sum256(in.Executor)
	if err := c.File(exe, 0o755, in.Executor); err != nil {
		return err
	}
	if err := c.File(exe+".sha256", 0o644, []byte(hex.EncodeToString(sum[:])+"\n")); err != nil {
		return err
	}
	if err := c.Dir(GuestModules, 0o755); err != nil {
		return err
	}
	for i, m := range in.Modules {
		if err := c.File(fmt.Sprintf("%s/%02d-%s.ko", GuestModules, i, m.Name), 0o644, m.Body); err != nil {
			return err
		}
	}
	idx := make([]Scenario, len(in.Scenarios))
	for i, s := range in.Scenarios {
		idx[i] = Scenario{Name: s.Name, Path: fmt.Sprintf("/scenarios/%04d.fault", i)}
		if err := c.File(idx[i].Path, 0o644, s.Src); err != nil {
			return err
		}
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	return c.File(GuestIndex, 0o644, b)
}

// DiskSize is the scratch disk's size (sparse on the host).
const DiskSize = 512 << 20

// MakeDisk makes the scratch disk: an ext4 filesystem in a sparse file,
// made by mke2fs without root (a real filesystem: tmpfs changes
// eviction, major faults and memcg charging). metadata_csum is off so
// the guest needs no crc32c module for it.
func MakeDisk(ctx context.Context, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(DiskSize)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return run(ctx, 2*time.Minute, filepath.Dir(path), nil, "mke2fs", "-q", "-F", "-t", "ext4", "-O", "^metadata_csum", "-L", "faultline", path)
}
