package host

// retInsns maps each Linux architecture name to its shortest return
// instruction as it lies in memory (in the arch's byte order: s390x is
// big-endian, the others little-endian here): what the executor
// stores for a byte argument written `ret` (ret_insn in executor.c). The
// model keeps only the first byte (kernel.Arch RetByte).
var retInsns = map[string][]byte{
	"x86_64":      {0xc3},                   // ret
	"arm64":       {0xc0, 0x03, 0x5f, 0xd6}, // ret (x30), 0xd65f03c0
	"riscv64":     {0x82, 0x80},             // c.ret, 0x8082
	"ppc64le":     {0x20, 0x00, 0x80, 0x4e}, // blr, 0x4e800020
	"s390x":       {0x07, 0xfe},             // br %r14, 0x07fe (big-endian)
	"loongarch64": {0x20, 0x00, 0x00, 0x4c}, // jirl $zero, $ra, 0: 0x4c000020
}

// RetInsn returns the return instruction the executor stores for `ret` on
// arch (a Linux name: x86_64, arm64, riscv64, ppc64le, s390x,
// loongarch64), or nil for an arch the
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
