package host

// retInsns maps each Linux architecture name to its shortest return
// instruction as it lies in memory (little-endian): what the executor
// stores for a byte argument written `ret` (ret_insn in executor.c). The
// model keeps only the first byte (kernel.Arch RetByte).
var retInsns = map[string][]byte{
	"x86_64":  {0xc3},                   // ret
	"arm64":   {0xc0, 0x03, 0x5f, 0xd6}, // ret (x30), 0xd65f03c0
	"riscv64": {0x82, 0x80},             // c.ret, 0x8082
}

// RetInsn returns the return instruction the executor stores for `ret` on
// arch (a Linux name: x86_64, arm64, riscv64), or nil for an arch the
// executor does not build for.
func RetInsn(arch string) []byte {
	b := retInsns[arch]
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// RetArg is the byte argument of the protocol that stands for the
// architecture's return instruction (write, file, kread, uffd_copy).
const RetArg = "ret"
