//go:build !(linux && amd64)

package lockcount

import "io"

// Serve is the child's side of Run; here it has nothing to serve.
func Serve(warm, body func()) error { return ErrUnsupported }

// Run counts what a child executes; it needs linux/amd64.
func Run(name string, args []string, out io.Writer) (*Report, error) {
	return nil, ErrUnsupported
}
