package guest

import (
	"bytes"
	"strconv"
	"testing"
)

// readNewc is an independent reader of newc archives for the tests.
type newcEntry struct {
	name string
	mode uint64
	body string
}

func readNewc(t *testing.T, b []byte) []newcEntry {
	t.Helper()
	var out []newcEntry
	off := 0
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off+110 > len(b) {
			t.Fatalf("truncated header at %d", off)
		}
		h := b[off : off+110]
		if string(h[:6]) != "070701" {
			t.Fatalf("bad magic %q at %d", h[:6], off)
		}
		field := func(i int) uint64 {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		mode, size, namesize := field(1), int(field(6)), int(field(11))
		name := string(b[off+110 : off+110+namesize-1])
		if b[off+110+namesize-1] != 0 {
			t.Fatalf("%s: name not NUL-terminated", name)
		}
		off = align(off + 110 + namesize)
		body := string(b[off : off+size])
		off = align(off + size)
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Fatalf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		out = append(out, newcEntry{name, mode, body})
	}
}

func TestCpio(t *testing.T) {
	tests := []struct {
		name  string
		build func(c *Cpio) error
		want  []newcEntry
	}{
		{"file makes parents", func(c *Cpio) error { return c.File("/a/b/init", 0o755, []byte("hello")) },
			[]newcEntry{{"a", 0o40755, ""}, {"a/b", 0o40755, ""}, {"a/b/init", 0o100755, "hello"}}},
		{"dir once, odd sizes padded", func(c *Cpio) error {
			if err := c.Dir("root", 0o700); err != nil {
				return err
			}
			if err := c.Dir("root", 0o755); err != nil {
				return err
			}
			if err := c.File("root/x", 0o600, []byte("abc")); err != nil {
				return err
			}
			return c.File("y", 0o644, []byte("12345"))
		}, []newcEntry{{"root", 0o40700, ""}, {"root/x", 0o100600, "abc"}, {"y", 0o100644, "12345"}}},
		{"symlink and cleaned names", func(c *Cpio) error { return c.Symlink("./sbin/../bin//sh", "/init") },
			[]newcEntry{{"bin", 0o40755, ""}, {"bin/sh", 0o120777, "/init"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			c := NewCpio(&buf)
			if err := tt.build(c); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			got := readNewc(t, buf.Bytes())
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("entry %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
	var buf bytes.Buffer
	if err := NewCpio(&buf).File("a\x00b", 0o644, nil); err == nil {
		t.Error("a name with NUL was accepted")
	}
	if err := NewCpio(&buf).File("/", 0o644, nil); err == nil {
		t.Error("an empty name was accepted")
	}
}
