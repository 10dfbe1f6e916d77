//go:build linux

package hostrun

import (
	"testing"

	"github.com/faultline/faultline/config"
)

// TestDetectPageSize: the kernel's base page becomes page_size, in the
// key's own spelling (the config accepts it back).
func TestDetectPageSize(t *testing.T) {
	for _, c := range []struct {
		size int
		want string
	}{{4096, "4k"}, {16384, "16k"}, {65536, "64k"}} {
		h := &Host{Config: config.Default(), Detected: map[string]bool{}, Missing: map[string]string{}}
		h.detectPageSize(c.size)
		if got, _ := h.Config.Get(pageSizeKey); got != c.want || !h.Detected[pageSizeKey] {
			t.Errorf("%d: page_size %q detected %v, want %s", c.size, got, h.Detected[pageSizeKey], c.want)
		}
	}
}
