package guest

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// Cpio writes a newc ("070701") archive, the format the kernel unpacks
// into its initramfs (init/initramfs.c), without cpio(1) or root: owners
// are root and modes as given.
type Cpio struct {
	w    *bufio.Writer
	ino  uint32
	n    int64 // bytes written, for the padding
	dirs map[string]bool
	err  error
}

// NewCpio returns a writer of an archive on w; Close ends it.
func NewCpio(w io.Writer) *Cpio {
	return &Cpio{w: bufio.NewWriter(w), ino: 1, dirs: map[string]bool{}}
}

// Mode bits of the entries.
const (
	cpioDir  = 0o040000
	cpioFile = 0o100000
	cpioLink = 0o120000
)

func (c *Cpio) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}

func (c *Cpio) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// entry writes one header, name and body.
func (c *Cpio) entry(name string, mode uint32, body []byte) error {
	if c.err != nil {
		return c.err
	}
	if strings.ContainsRune(name, 0) || len(name) > 4096 {
		return fmt.Errorf("cpio: bad name %q", name)
	}
	nlink := 1
	if mode&0o170000 == cpioDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(body), 0, 0, 0, 0, len(name)+1, 0)
	c.ino++
	c.write([]byte(hdr))
	c.write(append([]byte(name), 0))
	c.pad()
	c.write(body)
	c.pad()
	return c.err
}

// clean makes name relative and clean, or reports it unusable.
func clean(name string) (string, error) {
	n := strings.TrimPrefix(path.Clean("/"+name), "/")
	if n == "" {
		return "", fmt.Errorf("cpio: empty name %q", name)
	}
	return n, nil
}

// Dir adds a directory (and its parents, 0755, if not added yet).
func (c *Cpio) Dir(name string, perm uint32) error {
	n, err := clean(name)
	if err != nil {
		return err
	}
	if c.dirs[n] {
		return nil
	}
	if p := path.Dir(n); p != "." {
		if err := c.Dir(p, 0o755); err != nil {
			return err
		}
	}
	c.dirs[n] = true
	return c.entry(n, cpioDir|perm&0o7777, nil)
}

// File adds a regular file (its directories made 0755 when missing).
func (c *Cpio) File(name string, perm uint32, body []byte) error {
	n, err := clean(name)
	if err != nil {
		return err
	}
	if p := path.Dir(n); p != "." {
		if err := c.Dir(p, 0o755); err != nil {
			return err
		}
	}
	return c.entry(n, cpioFile|perm&0o7777, body)
}

// Symlink adds a symbolic link to target.
func (c *Cpio) Symlink(name, target string) error {
	n, err := clean(name)
	if err != nil {
		return err
	}
	if p := path.Dir(n); p != "." {
		if err := c.Dir(p, 0o755); err != nil {
			return err
		}
	}
	return c.entry(n, cpioLink|0o777, []byte(target))
}

// Close writes the trailer and flushes.
func (c *Cpio) Close() error {
	if err := c.entry("TRAILER!!!", 0, nil); err != nil {
		return err
	}
	return c.w.Flush()
}
