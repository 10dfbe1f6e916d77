//go:build linux

package hostrun

import (
	"errors"
	"strconv"
	"syscall"
	"testing"
)

func TestMeasureMmapMinAddr(t *testing.T) {
	cases := []struct {
		name string
		got  uintptr
		err  error
		want uint64
		ok   bool
	}{
		{"debian x86_64", 65536, nil, 65536, true},
		{"debian arm64 (LSM 32768)", 32768, nil, 32768, true},
		{"zero: hint honoured", 4096, nil, 4096, true},
		{"hint ignored, mapped high", 0x7f0000000000, nil, 0, false},
		{"not page-aligned", 0x10010, nil, 0, false},
		{"mmap failed", 0, syscall.ENOMEM, 0, false},
		{"below the hint", 0, nil, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var hint uintptr
			v, how, ok := measureMmapMinAddr(func(h uintptr) (uintptr, error) { hint = h; return c.got, c.err })
			if hint != mmapHintProbe {
				t.Errorf("hint %#x, want %#x", hint, mmapHintProbe)
			}
			if v != c.want || ok != c.ok {
				t.Errorf("= %d, %v (%s); want %d, %v", v, ok, how, c.want, c.ok)
			}
			if how == "" {
				t.Error("no explanation")
			}
		})
	}
}

// TestMeasureMmapMinAddrHere measures this kernel: never below the sysctl
// (the effective value is the sysctl raised to the LSM's), and found by a
// probe, not a file.
func TestMeasureMmapMinAddrHere(t *testing.T) {
	v, how, ok := measureMmapMinAddr(mapHinted)
	if !ok {
		t.Fatalf("the probe failed: %s", how)
	}
	s, ok := readTrim("/proc/sys/vm/mmap_min_addr")
	if !ok {
		t.Skip("no /proc/sys/vm/mmap_min_addr")
	}
	dac, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if page := uint64(4096); v < dac && !(dac <= page && v == page) {
		t.Errorf("measured %d, below vm.mmap_min_addr %d (%s)", v, dac, how)
	}
}

func TestProbePkeysAgreesWithCPUFlags(t *testing.T) {
	ok, err := probePkeys()
	if _, _, known := pkeySyscalls(); !known {
		if ok || !errors.Is(err, syscall.ENOSYS) {
			t.Errorf("an arch without pkey syscalls: %v, %v", ok, err)
		}
		return
	}
	if ok == (err != nil) {
		t.Errorf("ok %v with error %v", ok, err)
	}
	// On x86 the kernel offers keys exactly when the CPU flags say OSPKE.
	if isAmd64() && cpuFlags()["ospke"] != ok {
		t.Errorf("pkey_alloc ok=%v (%v), cpuinfo ospke=%v", ok, err, cpuFlags()["ospke"])
	}
}

func isAmd64() bool { a, _, _ := pkeySyscalls(); return a == 330 }
