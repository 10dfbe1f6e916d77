package kernel_test

import (
	"strconv"
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/arch/arm64"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
)

// TestPageSizeRules: on arm64 at each base page size, the rules that
// follow PAGE_SIZE do: mmap rounds a length up to whole pages, munmap
// refuses an address not aligned to one, read-ahead is read_ahead_kb of
// pages, a huge page is PMD-sized, and poison is reported with
// si_addr_lsb PAGE_SHIFT.
func TestPageSizeRules(t *testing.T) {
	tests := []struct {
		size    uint64
		shift   uint8
		ra      uint64
		hugeMiB uint64
	}{
		{4 << 10, 12, 32, 2},
		{16 << 10, 14, 8, 32},
		{64 << 10, 16, 2, 512},
	}
	for _, tc := range tests {
		t.Run(strconv.FormatUint(tc.size>>10, 10)+"k", func(t *testing.T) {
			cfg := config.Default()
			cfg.PageSize = tc.size
			k := kernel.New(cfg, arm64.New(cfg))
			t.Cleanup(k.Shutdown)
			task := k.Spawn("t")
			if got := task.MM().HugePageSize(); got != tc.hugeMiB<<20 {
				t.Errorf("huge page %#x, want %d MiB", got, tc.hugeMiB)
			}
			out := task.Mmap(kernel.MmapArgs{Length: 1, Prot: mm.ProtRead | mm.ProtWrite})
			if out.Kind != kernel.OutOK {
				t.Fatalf("mmap: %v", out)
			}
			a := out.Value
			if a%tc.size != 0 {
				t.Fatalf("mmap at %#x, not aligned to %d", a, tc.size)
			}
			if out := task.Write(a+tc.size-1, 1); out.Kind != kernel.OutOK {
				t.Errorf("write at the last byte of the rounded length: %v", out)
			}
			if out := task.Write(a+tc.size, 1); out.Kind == kernel.OutOK {
				t.Errorf("write past the rounded length: %v", out)
			}
			if tc.size > 4096 {
				if out := task.Munmap(a+4096, 4096); out.Errno != abi.EINVAL {
					t.Errorf("munmap of a 4 KiB-aligned address: %v, want EINVAL", out)
				}
			}
			if out := task.MadviseHWPoison(a, 1); out.Info.Signo != abi.SIGBUS || out.Info.LSB != tc.shift || out.Info.Addr != a {
				t.Errorf("madvise hwpoison: %v, want SIGBUS at %#x with lsb %d", out, a, tc.shift)
			}
			if out := task.CreateFile("f", 1<<20, 0x61); out.Kind != kernel.OutOK {
				t.Fatalf("file: %v", out)
			}
			if got := k.File("f").ReadAheadPages(); got != tc.ra {
				t.Errorf("read-ahead %d pages, want %d", got, tc.ra)
			}
		})
	}
}

// TestFaultAroundPageSize: a read fault on a cached file page maps
// fault_around_bytes (64 KiB) of the window around it, 16 pages of 4 KiB
// or 4 of 16 KiB; with 64 KiB pages there is no fault-around at all
// (should_fault_around: a window of one page), so each page faults.
func TestFaultAroundPageSize(t *testing.T) {
	for _, tc := range []struct {
		size   uint64
		faults int64 // minor faults reading the first 4 pages
	}{{4 << 10, 1}, {16 << 10, 1}, {64 << 10, 4}} {
		t.Run(strconv.FormatUint(tc.size>>10, 10)+"k", func(t *testing.T) {
			cfg := config.Default()
			cfg.PageSize = tc.size
			k := kernel.New(cfg, arm64.New(cfg))
			t.Cleanup(k.Shutdown)
			task := k.Spawn("t")
			if out := task.CreateFile("f", 16*tc.size, 0x61); out.Kind != kernel.OutOK {
				t.Fatalf("file: %v", out)
			}
			out := task.Mmap(kernel.MmapArgs{Length: 16 * tc.size, Prot: mm.ProtRead, Shared: true, File: "f"})
			if out.Kind != kernel.OutOK {
				t.Fatalf("mmap: %v", out)
			}
			min0, _ := task.Faults()
			for i := uint64(0); i < 4; i++ {
				if r := task.Read(out.Value + i*tc.size); r.Value != 0x61 {
					t.Fatalf("read page %d: %v", i, r)
				}
			}
			if min1, _ := task.Faults(); min1-min0 != tc.faults {
				t.Errorf("%d minor faults reading 4 pages, want %d", min1-min0, tc.faults)
			}
		})
	}
}
