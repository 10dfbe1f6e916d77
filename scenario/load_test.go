//go:build unix

package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadFile checks that only a regular file within MaxFileSize is
// read, and that nothing makes the reader wait: a named pipe with no
// writer is refused at once.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Repeat("#", size)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "pipe.fault")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		size       int    // of what is read, when it is
		err        string // a substring of the error, else ""
	}{
		{"at the limit", write("max.fault", MaxFileSize), MaxFileSize, ""},
		{"empty", write("empty.fault", 0), 0, ""},
		{"past the limit", write("big.fault", MaxFileSize+1), 0,
			"big.fault: expected a scenario file of at most 1M (1048576 bytes), found one of 1048577 bytes"},
		{"named pipe", fifo, 0, "pipe.fault: expected a regular file, found a named pipe (FIFO)"},
		{"character device", "/dev/zero", 0, "/dev/zero: expected a regular file, found a character device"},
		{"directory", dir, 0, "expected a regular file, found a directory"},
		{"missing", filepath.Join(dir, "none.fault"), 0, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type result struct {
				src []byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				src, err := ReadFile(tt.path)
				done <- result{src, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("ReadFile(%s) did not return", tt.path)
			}
			switch {
			case tt.err == "" && (r.err != nil || len(r.src) != tt.size):
				t.Errorf("ReadFile = %d bytes, %v; want %d bytes", len(r.src), r.err, tt.size)
			case tt.err != "" && (r.err == nil || !strings.Contains(r.err.Error(), tt.err)):
				t.Errorf("ReadFile error %v, want one containing %q", r.err, tt.err)
			}
		})
	}
}
