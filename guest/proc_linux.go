package guest

import "syscall"

// procAttr puts qemu in a process group of its own (killed whole) that
// dies with the thread that started it.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
