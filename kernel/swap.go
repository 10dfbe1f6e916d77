package kernel

import "github.com/faultline/faultline/phys"

// swapOut writes anonymous pages charged to cg out to swap; without swap
// space it frees nothing.
func (k *Kernel) swapOut(cg *phys.MemCG, n int64) int64 {
	return 0
}
