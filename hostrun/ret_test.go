package hostrun

import (
	"testing"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/host"
	"github.com/faultline/faultline/machine"
)

// TestRetInsnStartsWithModelRetByte: what the executor stores for `ret` on
// each modeled arch starts with the byte the model reads back there.
func TestRetInsnStartsWithModelRetByte(t *testing.T) {
	for _, arch := range machine.Arches() {
		k, err := machine.New(arch, config.Default(), machine.Generic)
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		insn := host.RetInsn(arch)
		if len(insn) == 0 {
			t.Errorf("%s: the executor has no return instruction for a modeled arch", arch)
			continue
		}
		if insn[0] != k.Arch().RetByte() {
			t.Errorf("%s: ret instruction % x starts with %#x, the model's RetByte is %#x", arch, insn, insn[0], k.Arch().RetByte())
		}
	}
}
