package hostrun

import "os"

// writeControl writes data to a kernel control file (a cgroup's
// memory.max or cgroup.procs, a sysctl) in one write(2), from a blocking
// descriptor. os.WriteFile would leave the descriptor O_NONBLOCK: Go
// registers pollable files with its poller, and kernfs and /proc/sys
// files are pollable. Since "memcg: introduce non-blocking limit setting
// option" (observed on 7.2; absent from 6.12), a cgroup v2 memory.max
// written through an O_NONBLOCK descriptor sets the limit without
// reclaiming down to it, which is not what a scenario's memlimit asks.
func writeControl(path string, data []byte) error {
	f, err := openControl(path)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// openControl opens path for writing as os.WriteFile does (a regular
// file standing in for one, as in tests, is made and truncated), with a
// blocking descriptor.
func openControl(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	f.Fd() // puts the descriptor back in blocking mode
	return f, nil
}
