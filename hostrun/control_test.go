package hostrun

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// nonblock reports whether f's descriptor is O_NONBLOCK, without
// changing it (os.File.Fd would).
func nonblock(t *testing.T, f *os.File) bool {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fl uintptr
	rc.Control(func(fd uintptr) { fl, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0) })
	return fl&syscall.O_NONBLOCK != 0
}

// TestControlBlocking: os.OpenFile leaves a pollable file (a pipe here,
// like kernfs and /proc/sys files) O_NONBLOCK, openControl does not, and
// writeControl's data arrives whole.
func TestControlBlocking(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no fifo:", err)
	}
	r, err := os.OpenFile(fifo, os.O_RDWR, 0) // a reader: opening for writing does not wait
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	plain, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !nonblock(t, plain) {
		t.Fatal("os.OpenFile left a pipe blocking: the reason for openControl is gone")
	}
	plain.Close()
	f, err := openControl(fifo)
	if err != nil {
		t.Fatal(err)
	}
	if nonblock(t, f) {
		t.Fatal("openControl's descriptor is O_NONBLOCK")
	}
	f.Close()
	if err := writeControl(fifo, []byte("4194304")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, _ := r.Read(buf); string(buf[:n]) != "4194304" {
		t.Fatalf("read %q", buf[:n])
	}
}
