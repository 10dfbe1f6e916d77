//go:build !unix

package scenario

// openNonblock: without named pipes there is nothing to wait for.
const openNonblock = 0
