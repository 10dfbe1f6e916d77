//go:build linux

package host

// Source returns the executor's C source (embedded), for builds of it
// elsewhere: package guest cross-compiles it for a foreign arch's guest.
func Source() []byte { return append([]byte(nil), executorSource...) }
