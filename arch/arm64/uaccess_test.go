package arm64_test

import (
	"testing"

	"github.com/faultline/faultline/arch/arm64"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
)

// TestCopyUser: counts worked out by hand from copy_template.S and its
// fixups (6.12.117).
func TestCopyUser(t *testing.T) {
	const f = uint64(0x20000) // the first byte that faults
	tests := []struct {
		name          string
		c             kernel.UserCopy
		copied, store uint64
	}{
		{"from user: 4 to align, 64 loaded ahead, the third pair's load faults",
			kernel.UserCopy{User: f - 100, N: 4096, Fault: f}, 52, 0},
		{"from user: the fourth look-ahead load faults with nothing stored: one byte",
			kernel.UserCopy{User: f - 48, N: 4096, Fault: f}, 1, 0},
		{"from user: the alignment bytes, then the pair faults",
			kernel.UserCopy{User: f - 15, N: 4096, Fault: f}, 15, 0},
		{"from user, under 16 bytes: 8 then 4, the 2 faults",
			kernel.UserCopy{User: f - 13, N: 15, Fault: f}, 12, 0},
		{"from user: the last byte is a byte access, no retry",
			kernel.UserCopy{User: f - 14, N: 15, Fault: f}, 14, 0},
		{"to user: pairs up to the fault",
			kernel.UserCopy{ToUser: true, User: f - 96, N: 4096, Fault: f}, 96, 96},
		{"to user: a pair straddles the fault, its first half stored",
			kernel.UserCopy{ToUser: true, User: f - 108, N: 4096, Fault: f}, 96, 104},
		{"to user: the first access faults: one byte tried",
			kernel.UserCopy{ToUser: true, User: f - 3, Kern: 0, N: 4096, Fault: f}, 1, 1},
	}
	a := arm64.New(config.Default())
	for _, tc := range tests {
		copied, stored := a.CopyUser(tc.c)
		if copied != tc.copied || stored != tc.store {
			t.Errorf("%s: copied %d stored %d, want %d and %d", tc.name, copied, stored, tc.copied, tc.store)
		}
	}
}
