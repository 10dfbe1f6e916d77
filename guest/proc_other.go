//go:build !linux

package guest

import "syscall"

// procAttr puts qemu in a process group of its own (killed whole).
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
