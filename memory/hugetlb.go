package memory

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/mm"
)

// hugetlbFill fills a userfaultfd range of a hugetlb VMA; hugetlb comes
// with its own resolver.
func hugetlbFill(t Faulter, v *mm.VMA, addr, end uint64, mode FillMode, fill byte) (uint64, abi.Errno) {
	return 0, abi.EINVAL
}
