package kernel_test

import (
	"math/rand/v2"
	"testing"

	"github.com/faultline/faultline/arch/arm64"
	"github.com/faultline/faultline/arch/riscv"
	"github.com/faultline/faultline/arch/x86"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
)

// TestUaccessPartialByArch: read(2) and write(2) from a buffer whose
// readable bytes end at a PROT_NONE page, on each arch's copy routine,
// with what the arm64 and riscv64 guest kernels (Debian 6.12.117 and
// 7.2.12 under qemu) returned.
func TestUaccessPartialByArch(t *testing.T) {
	arches := map[string]func(config.Kernel) kernel.Arch{
		"x86_64":  nil,
		"arm64":   func(c config.Kernel) kernel.Arch { return arm64.New(c) },
		"riscv64": func(c config.Kernel) kernel.Arch { return riscv.New(c) },
	}
	const livelock = ^uint64(0)
	tests := []struct {
		write  bool
		before uint64 // readable bytes before the PROT_NONE page
		size   uint64
		want   map[string]uint64 // 0: EFAULT
	}{
		{false, 200, 4096, map[string]uint64{"x86_64": 200, "arm64": 200, "riscv64": 192}},
		{false, 32, 4096, map[string]uint64{"x86_64": 32, "arm64": 32, "riscv64": 0}},
		{false, 32, 40, map[string]uint64{"x86_64": 32, "arm64": 32, "riscv64": 32}},
		{false, 100, 4096, map[string]uint64{"x86_64": 100, "arm64": 100, "riscv64": 100}},
		{true, 100, 4096, map[string]uint64{"x86_64": 100, "arm64": 100, "riscv64": livelock}},
		{true, 64, 4096, map[string]uint64{"x86_64": 64, "arm64": 64, "riscv64": 64}},
		{true, 7, 71, map[string]uint64{"x86_64": 7, "arm64": 7, "riscv64": livelock}},
		{true, 63, 64, map[string]uint64{"x86_64": 63, "arm64": 63, "riscv64": 63}},
	}
	for name, newArch := range arches {
		for _, tc := range tests {
			cfg := config.Default()
			var k *kernel.Kernel
			if newArch == nil {
				k, _ = machine(t)
			} else {
				k = kernel.New(cfg, newArch(cfg))
				t.Cleanup(k.Shutdown)
			}
			task := k.Spawn("t")
			fixed(t, task, base, 1, rw)
			fixed(t, task, base+pg, 1, mm.ProtNone)
			addr := base + pg - tc.before
			var out kernel.Outcome
			if tc.write {
				out = task.KWrite(addr, tc.size)
			} else {
				out = task.KRead(addr, tc.size, 0x5a)
			}
			want := tc.want[name]
			switch {
			case want == livelock && out.Kind == kernel.OutLivelock:
			case want == 0 && out.Kind == kernel.OutErrno:
			case want != 0 && want != livelock && out.Kind == kernel.OutOK && out.Value == want:
			default:
				t.Errorf("%s: write=%v of %d bytes from %d before the fault = %v, want %d (0: EFAULT, %d: livelock)",
					name, tc.write, tc.size, tc.before, out, want, livelock)
			}
		}
	}
}

// TestCopyUserWhole: a copy to user memory whose destination does not
// fault, or from user memory readable to the end of the aligned word
// holding its last byte, is copied whole by every arch's routine, at
// every alignment and length and on every modeled kernel version: what
// lets Task.copyUser skip running the routine access by access for such
// a copy.
func TestCopyUserWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, v := range []config.Version{{Major: 6, Minor: 1}, {Major: 6, Minor: 18}} {
		cfg := config.Default()
		cfg.Version = v
		arches := map[string]kernel.Arch{"x86_64": x86.New(cfg), "arm64": arm64.New(cfg), "riscv64": riscv.New(cfg)}
		for name, a := range arches {
			for i := range 4000 {
				n := uint64(i % 300)
				if i >= 3000 {
					n = 1 + rng.Uint64N(4096)
				}
				c := kernel.UserCopy{ToUser: i%2 == 0, User: 0x10000 + rng.Uint64N(64), Kern: rng.Uint64N(64), N: n}
				c.Fault = c.User + n
				if !c.ToUser {
					c.Fault = (c.Fault + 7) &^ 7
				}
				c.Fault += rng.Uint64N(2) * rng.Uint64N(4096)
				wantStored := n
				if !c.ToUser {
					wantStored = 0
				}
				if copied, stored := a.CopyUser(c); copied != n || stored != wantStored {
					t.Fatalf("%s %v: CopyUser(%+v) = %d, %d; want %d, %d", name, v, c, copied, stored, n, wantStored)
				}
			}
		}
	}
}
