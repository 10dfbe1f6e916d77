package phys_test

import (
	"math/rand/v2"
	"testing"

	"github.com/faultline/faultline/phys"
)

// TestContentsMatchModel runs random writes, fills, copies, swap-outs
// and reallocations on a few frames, each mirrored on a plain 4 KiB
// array, and checks after every step that every byte reads as the array
// says, through Load and Contents, whatever the frame keeps (zeros,
// a shared fill, a patch, contents of its own), and that no write to one
// frame shows in another (every frame is checked every eighth step).
func TestContentsMatchModel(t *testing.T) {
	tests := []struct {
		name   string
		stores int // weight of single-byte stores against the other operations
		hot    int // stores land on this many offsets (0: anywhere)
	}{
		{"few bytes", 8, 4},     // mostly patches
		{"many bytes", 80, 0},   // patches overflow into contents of their own
		{"mixed", 2, 12},        // fills and copies between
		{"no stores", 0, 0},     // fills and copies only
		{"one hot byte", 20, 1}, // a patch of one byte, rewritten
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(4) {
				rng := rand.New(rand.NewPCG(seed, 5))
				a := phys.NewAllocator()
				sw := phys.NewSwapDevice(64 * phys.PageSize)
				const frames = 4
				var pages [frames]*phys.Page
				var want [frames][phys.PageSize]byte
				alloc := func(i int) {
					p, err := a.Alloc(phys.FlagAnon)
					if err != nil {
						t.Fatal(err)
					}
					pages[i], want[i] = p, [phys.PageSize]byte{}
				}
				for i := range pages {
					alloc(i)
				}
				offset := func() uint64 {
					if tc.hot > 0 {
						return uint64(rng.IntN(tc.hot)) * 509 % phys.PageSize
					}
					return rng.Uint64N(phys.PageSize)
				}
				for step := range 300 {
					i, j := rng.IntN(frames), rng.IntN(frames)
					p := pages[i]
					var op string
					switch k := rng.IntN(tc.stores + 7); {
					case k < tc.stores:
						off, v := offset(), byte(rng.IntN(3))
						op = "store"
						p.Store(off, v)
						want[i][off] = v
					case k == tc.stores:
						v := byte(rng.IntN(3))
						op = "fill"
						p.Fill(v)
						for o := range want[i] {
							want[i][o] = v
						}
					case k == tc.stores+1:
						off := offset()
						n := min(rng.Uint64N(40), phys.PageSize-off)
						v := byte(rng.IntN(3))
						op = "fill range"
						p.FillRange(off, n, v)
						for o := off; o < off+n; o++ {
							want[i][o] = v
						}
					case k == tc.stores+2 && i != j:
						op = "copy"
						p.CopyFrom(pages[j])
						want[i] = want[j]
					case k == tc.stores+3:
						off, v := offset(), byte(rng.IntN(256))
						op = "write through Data"
						p.Data()[off] = v
						want[i][off] = v
					case k == tc.stores+4:
						op = "swap out and in"
						slot, ok := sw.WriteOut(p)
						if !ok {
							t.Fatal("swap is full")
						}
						sw.Dup(slot)
						p.Put()
						old := want[i]
						alloc(i)
						if c, started := sw.ReadIn(slot, pages[i]); !started || c.Page != pages[i] {
							t.Fatal("ReadIn did not start a read into the new frame")
						}
						sw.Run()
						want[i] = old
						pages[i].Get()
						sw.Free(slot) // drops the swap cache's reference
					case k == tc.stores+5:
						op = "reallocate"
						p.Put()
						alloc(i)
					default:
						op = "read"
					}
					for f := range pages {
						if f != i && f != j && step%8 != 0 {
							continue // the others now and then
						}
						for off := range uint64(phys.PageSize) {
							if got := pages[f].Load(off); got != want[f][off] {
								t.Fatalf("seed %d step %d (%s on frame %d): frame %d byte %d: Load = %#x, want %#x", seed, step, op, i, f, off, got, want[f][off])
							}
						}
						// Contents gives a patched frame contents of its
						// own: looked at now and then, so that patches last.
						if rng.IntN(64) == 0 && *pages[f].Contents() != want[f] {
							t.Fatalf("seed %d step %d (%s on frame %d): frame %d: Contents differ", seed, step, op, i, f)
						}
						if v, ok := pages[f].Uniform(); ok && want[f] != uniform(v) {
							t.Fatalf("seed %d step %d (%s on frame %d): frame %d: Uniform() = %#x, true, but it is not", seed, step, op, i, f, v)
						}
					}
				}
				for _, p := range pages {
					p.Put()
				}
				if !a.Release() {
					t.Fatalf("seed %d: Release refused: %+v", seed, a.Stats())
				}
			}
		})
	}
}

func uniform(v byte) [phys.PageSize]byte {
	var d [phys.PageSize]byte
	for i := range d {
		d[i] = v
	}
	return d
}
