package guest

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/faultline/faultline/runner"
)

// Prefix starts every line the in-guest init prints for the host; the
// kernel's own console lines never do. Each such line is
//
//	FAULTLINE-GUEST KIND CRC JSON
//
// with CRC the IEEE CRC-32 of JSON in hex: a console line a kernel
// message broke into is detected, not misread.
const Prefix = "FAULTLINE-GUEST"

// Line kinds.
const (
	KindHost   = "host"   // HostInfo: what the guest detected
	KindResult = "result" // Result: one scenario's host run
	KindDone   = "done"   // Done: every scenario was run
	KindError  = "error"  // Failure: the guest could not go on
)

// HostInfo is the detected guest, as hostrun.Host marshals it.
type HostInfo struct {
	Arch         string            `json:"arch"`
	Kernel       string            `json:"kernel"`
	Root         bool              `json:"root"`
	Config       map[string]string `json:"config"`
	Detected     map[string]bool   `json:"detected"`
	Missing      map[string]string `json:"missing"`
	UffdFeatures uint64            `json:"uffd_features"`
	Memcg        string            `json:"memcg"`
	MemcgVersion int               `json:"memcg_version"`
	Wchan        bool              `json:"wchan"`
	Notes        []string          `json:"notes,omitempty"`
}

// Result is one scenario's run in the guest: skipped there (Skip says
// why) or run (Report, recorded).
type Result struct {
	Index   int           `json:"index"`
	File    string        `json:"file"`
	Skip    string        `json:"skip,omitempty"`
	Report  runner.Report `json:"report"`
	Seconds float64       `json:"seconds"`
}

// Done ends a guest run.
type Done struct {
	Count int `json:"count"`
}

// Failure is why the guest stopped early.
type Failure struct {
	Error string `json:"error"`
}

// FormatLine encodes one line for the console.
func FormatLine(kind string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s %08x %s", Prefix, kind, crc32.ChecksumIEEE(b), b), nil
}

// ParseLine decodes a console line: ok is false for a line that is not
// the guest's; err reports one that is but is damaged.
func ParseLine(line string) (kind string, payload []byte, ok bool, err error) {
	line = strings.TrimRight(line, "\r\n")
	i := strings.Index(line, Prefix+" ")
	if i < 0 {
		return "", nil, false, nil
	}
	f := strings.SplitN(line[i+len(Prefix)+1:], " ", 3)
	if len(f) != 3 {
		return "", nil, true, fmt.Errorf("guest: a short line: %q", clip(line))
	}
	sum, perr := strconv.ParseUint(f[1], 16, 32)
	if perr != nil || len(f[1]) != 8 {
		return f[0], nil, true, fmt.Errorf("guest: a line with a bad checksum field: %q", clip(line))
	}
	if uint32(sum) != crc32.ChecksumIEEE([]byte(f[2])) {
		return f[0], nil, true, fmt.Errorf("guest: a %s line damaged on the console (checksum mismatch): %q", f[0], clip(line))
	}
	return f[0], []byte(f[2]), true, nil
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
