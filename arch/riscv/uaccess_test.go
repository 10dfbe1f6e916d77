package riscv_test

import (
	"testing"

	"github.com/faultline/faultline/arch/riscv"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
)

// TestCopyUser: counts worked out by hand from arch/riscv/lib/uaccess.S
// (6.12.117), and the ones the riscv64 guests returned.
func TestCopyUser(t *testing.T) {
	const f = uint64(0x20000) // the first byte that faults
	tests := []struct {
		name          string
		ver           config.Version
		c             kernel.UserCopy
		copied, store uint64
	}{
		{"shifting copy from user: the look-ahead load faults, 96 of 100",
			config.Version{Major: 6, Minor: 12}, kernel.UserCopy{User: f - 100, N: 4096, Fault: f}, 96, 0},
		{"shifting copy from user: the first look-ahead faults, none of 4",
			config.Version{Major: 6, Minor: 12}, kernel.UserCopy{User: f - 4, Kern: 96, N: 4000, Fault: f}, 0, 0},
		{"bytewise below the threshold: exact",
			config.Version{Major: 6, Minor: 12}, kernel.UserCopy{User: f - 50, N: 70, Fault: f}, 50, 0},
		{"71 bytes take the fast path from 6.10: the block faults",
			config.Version{Major: 6, Minor: 12}, kernel.UserCopy{User: f - 40, N: 71, Fault: f}, 0, 0},
		{"71 bytes are bytewise in 6.1",
			config.Version{Major: 6, Minor: 1}, kernel.UserCopy{User: f - 40, N: 71, Fault: f}, 40, 0},
		{"to user, aligned: the first block's fifth store faults, none reported, 40 stored",
			config.Version{Major: 6, Minor: 12}, kernel.UserCopy{ToUser: true, User: f - 40, N: 4096, Fault: f}, 0, 40},
		{"to user, a whole block fits: 64",
			config.Version{Major: 6, Minor: 12}, kernel.UserCopy{ToUser: true, User: f - 64, N: 4096, Fault: f}, 64, 64},
		{"to user, misaligned source: word stores up to the fault",
			config.Version{Major: 6, Minor: 12}, kernel.UserCopy{ToUser: true, User: f - 100, N: 4096, Fault: f}, 100, 100},
	}
	for _, tc := range tests {
		cfg := config.Default()
		cfg.Version = tc.ver
		copied, stored := riscv.New(cfg).CopyUser(tc.c)
		if copied != tc.copied || stored != tc.store {
			t.Errorf("%s: copied %d stored %d, want %d and %d", tc.name, copied, stored, tc.copied, tc.store)
		}
	}
}
