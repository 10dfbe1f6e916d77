package phys

// Uncharge is uncharge, for tests that charge without pages.
func Uncharge(cg *MemCG, n int64) { cg.uncharge(n) }
