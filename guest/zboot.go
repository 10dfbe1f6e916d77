package guest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// zbootHeader is the start of an EFI zboot image (the kernel's
// drivers/firmware/efi/libstub/zboot-header.S): the PE's "MZ", the magic
// "zimg" at 4, the compressed payload's offset and size at 8 and 12
// (little-endian 32-bit), and the compression's name at 24, NUL-padded.
const zbootHeader = 32

// zbootPayload returns where an EFI zboot image's payload lies and how
// it is compressed, or an error for anything else.
func zbootPayload(img []byte) (off, size uint32, comp string, err error) {
	if len(img) < zbootHeader || string(img[0:2]) != "MZ" || string(img[4:8]) != "zimg" {
		return 0, 0, "", errors.New("guest: not an EFI zboot image (no MZ ... zimg header)")
	}
	off = binary.LittleEndian.Uint32(img[8:12])
	size = binary.LittleEndian.Uint32(img[12:16])
	comp = string(bytes.TrimRight(img[24:32], "\x00"))
	if uint64(off)+uint64(size) > uint64(len(img)) || size == 0 {
		return 0, 0, "", fmt.Errorf("guest: the zboot payload (%d bytes at %d) lies outside the %d-byte image", size, off, len(img))
	}
	return off, size, comp, nil
}

// UnpackZBoot decompresses the payload of the EFI zboot image at path
// (the PE kernel qemu boots directly) into out, with zstd, gzip or xz.
func UnpackZBoot(ctx context.Context, path, out string) error {
	img, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	off, size, comp, err := zbootPayload(img)
	if err != nil {
		return fmt.Errorf("%w: %s", err, path)
	}
	tool := map[string]string{"zstd": "zstd", "gzip": "gzip", "xzkern": "xz", "xz": "xz"}[comp]
	if tool == "" {
		return fmt.Errorf("guest: %s: zboot compression %q is not known", path, comp)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, tool, "-dc")
	cmd.Stdin = bytes.NewReader(img[off : off+size])
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("guest: %s -dc of %s's payload: %w (%s)", tool, path, err, strings.TrimSpace(stderr.String()))
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".zboot-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(stdout.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}
