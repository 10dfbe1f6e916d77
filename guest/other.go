//go:build !linux

package guest

import (
	"context"
	"errors"
	"io"

	"github.com/faultline/faultline/timeout"
)

var errNotLinux = errors.New("guest: qemu guests are built and run from Linux")

// Prepared is a bootable guest (Linux only).
type Prepared struct {
	Machine Machine
	Kernel  *Kernel
}

// Close does nothing off Linux.
func (p *Prepared) Close() error { return nil }

// Prepare needs Linux.
func Prepare(ctx context.Context, spec Spec, scenarios []Scenario, scale timeout.Scale, log func(string)) (*Prepared, error) {
	return nil, errNotLinux
}

// Init needs Linux.
func Init(out io.Writer) int { return 2 }
