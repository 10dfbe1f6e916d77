package guest

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// zbootImage builds an EFI zboot image around payload, compressed with
// comp's name in the header.
func zbootImage(payload []byte, comp string, off uint32) []byte {
	img := make([]byte, int(off)+len(payload))
	copy(img, "MZ")
	copy(img[4:], "zimg")
	binary.LittleEndian.PutUint32(img[8:], off)
	binary.LittleEndian.PutUint32(img[12:], uint32(len(payload)))
	copy(img[24:], comp)
	copy(img[off:], payload)
	return img
}

func TestZbootPayload(t *testing.T) {
	good := zbootImage([]byte("payload"), "zstd", 64)
	for _, c := range []struct {
		name string
		img  []byte
		comp string
		err  string
	}{
		{"good", good, "zstd", ""},
		{"short", good[:16], "", "not an EFI zboot image"},
		{"no magic", append([]byte("MZ\x00\x00xxxx"), good[8:]...), "", "not an EFI zboot image"},
		{"payload past the end", good[:66], "", "lies outside"},
		{"empty payload", zbootImage(nil, "gzip", 64), "", "lies outside"},
	} {
		off, size, comp, err := zbootPayload(c.img)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want an error with %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || off != 64 || size != 7 || comp != c.comp {
			t.Errorf("%s: %d, %d, %q, %v", c.name, off, size, comp, err)
		}
	}
}

// TestUnpackZBoot round-trips a payload through zstd inside a zboot
// image (skipped without zstd).
func TestUnpackZBoot(t *testing.T) {
	if _, err := exec.LookPath("zstd"); err != nil {
		t.Skip("no zstd")
	}
	want := bytes.Repeat([]byte("MZ a PE kernel "), 1000)
	cmd := exec.Command("zstd", "-c")
	cmd.Stdin = bytes.NewReader(want)
	z, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "vmlinuz.efi")
	if err := os.WriteFile(in, zbootImage(z, "zstd", 0x200), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := UnpackZBoot(context.Background(), in, out); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, want) {
		t.Errorf("unpacked %d bytes (%v), want %d", len(got), err, len(want))
	}
	if err := os.WriteFile(in, zbootImage(z, "lz4", 0x200), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := UnpackZBoot(context.Background(), in, out+"2"); err == nil || !strings.Contains(err.Error(), "not known") {
		t.Errorf("an unknown compression: %v", err)
	}
}

// TestExecutorArgs: gcc boards place the text with -Ttext-segment; the
// clang board (loongarch64) with lld's --image-base, its target and its
// sysroot, which it cannot do without.
func TestExecutorArgs(t *testing.T) {
	args, err := executorArgs("s390x", "")
	if line := strings.Join(args, " "); err != nil || !strings.Contains(line, "-static -Wl,-Ttext-segment=0x400000") {
		t.Errorf("s390x: %q, %v", line, err)
	}
	args, err = executorArgs("loongarch64", "/s")
	line := strings.Join(args, " ")
	for _, w := range []string{"--target=loongarch64-linux-gnu", "--sysroot=/s", "-fuse-ld=lld", "-Wl,--image-base=0x400000", "-static"} {
		if err != nil || !strings.Contains(line, w) {
			t.Errorf("loongarch64: %q lacks %q (%v)", line, w, err)
		}
	}
	if strings.Contains(line, "Ttext-segment") {
		t.Errorf("loongarch64: lld has no -Ttext-segment: %q", line)
	}
	if _, err := executorArgs("loongarch64", ""); err == nil {
		t.Error("loongarch64 without a sysroot")
	}
}
