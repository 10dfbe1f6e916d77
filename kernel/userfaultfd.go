package kernel

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/memory"
)

// uffd returns the process's userfaultfd called name, or nil.
func (t *Task) uffd(name string) *memory.Userfaultfd {
	t.proc.mu.Lock()
	defer t.proc.mu.Unlock()
	return t.proc.uffds[name]
}

// UffdRegister registers a range with the process's userfaultfd called
// name, opening it with UFFD_FEATURE_SIGBUS if sigbus is set when it does
// not exist yet (userfaultfd(2), UFFDIO_API, UFFDIO_REGISTER).
func (t *Task) UffdRegister(name string, addr, length uint64, modes int, sigbus bool) Outcome {
	return t.call(func() Outcome {
		p := t.proc
		p.mu.Lock()
		u := p.uffds[name]
		if u == nil {
			var features uint64
			if sigbus {
				features |= memory.UffdFeatureSigbus
			}
			u = memory.NewUserfaultfd(name, features)
			if p.uffds == nil {
				p.uffds = map[string]*memory.Userfaultfd{}
			}
			p.uffds[name] = u
		}
		p.mu.Unlock()
		return Err(u.Register(t, t.MM(), addr, length, modes))
	})
}

// UffdUnregister is UFFDIO_UNREGISTER.
func (t *Task) UffdUnregister(name string, addr, length uint64) Outcome {
	return t.call(func() Outcome {
		u := t.uffd(name)
		if u == nil {
			return Err(abi.EBADF)
		}
		return Err(u.Unregister(t, t.MM(), addr, length))
	})
}

// UffdEvent reads the next message of a userfaultfd, waiting for one.
func (t *Task) UffdEvent(name string) Outcome {
	return t.call(func() Outcome {
		u := t.uffd(name)
		if u == nil {
			return Err(abi.EBADF)
		}
		msg, err := u.Read(t)
		if err != 0 {
			return Err(err)
		}
		return Outcome{Kind: OutFault, Msg: msg}
	})
}

// UffdFill resolves a range by copy, zero page, continue or poison
// (UFFDIO_COPY, _ZEROPAGE, _CONTINUE, _POISON).
func (t *Task) UffdFill(name string, addr, length uint64, mode memory.FillMode, fill byte) Outcome {
	return t.call(func() Outcome {
		u := t.uffd(name)
		if u == nil {
			return Err(abi.EBADF)
		}
		n, err := u.Fill(t, t.MM(), addr, length, mode, fill)
		if err != 0 {
			return Err(err)
		}
		return OKValue(n)
	})
}

// UffdWake is UFFDIO_WAKE.
func (t *Task) UffdWake(name string, addr, length uint64) Outcome {
	return t.call(func() Outcome {
		u := t.uffd(name)
		if u == nil {
			return Err(abi.EBADF)
		}
		return Err(u.WakeRange(t.MM(), addr, length))
	})
}

// UffdWriteProtect is UFFDIO_WRITEPROTECT.
func (t *Task) UffdWriteProtect(name string, addr, length uint64, on bool) Outcome {
	return t.call(func() Outcome {
		u := t.uffd(name)
		if u == nil {
			return Err(abi.EBADF)
		}
		return Err(u.WriteProtect(t, t.MM(), addr, length, on))
	})
}
