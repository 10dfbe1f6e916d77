//go:build linux

package hostrun

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/config"
)

// TestDetectPageSize: the kernel's base page becomes page_size where the
// model's configuration has the key; without it a base page other than
// 4 KiB is noted (the model then runs with pages the kernel lacks) and
// 4 KiB says nothing.
func TestDetectPageSize(t *testing.T) {
	_, hasKey := config.Default().Get(pageSizeKey)
	for _, c := range []struct {
		size int
		want string
	}{{4096, "4k"}, {16384, "16k"}, {65536, "64k"}} {
		h := &Host{Config: config.Default(), Detected: map[string]bool{}, Missing: map[string]string{}}
		h.detectPageSize(c.size)
		if hasKey {
			if got, _ := h.Config.Get(pageSizeKey); got != c.want || !h.Detected[pageSizeKey] {
				t.Errorf("%d: page_size %q detected %v, want %s", c.size, got, h.Detected[pageSizeKey], c.want)
			}
			continue
		}
		noted := len(h.Notes) == 1 && strings.Contains(h.Notes[0], strings.TrimSuffix(c.want, "k")+" KiB")
		if noted != (c.size != 4096) || h.Detected[pageSizeKey] {
			t.Errorf("%d: notes %q, detected %v", c.size, h.Notes, h.Detected[pageSizeKey])
		}
	}
}
