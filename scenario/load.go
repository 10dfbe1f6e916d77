package scenario

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ReadFile reads a scenario file for Parse: a regular file of at most
// MaxFileSize bytes. Anything else is refused before it is read, with an
// error that says what was expected and what was found, so that no input
// can make the reader hang or run out of memory: a named pipe is opened
// without waiting for a writer (O_NONBLOCK) and refused, like a device
// (/dev/zero) or a socket, and the read stops one byte past the limit
// whatever the size said (a file may grow while it is read).
func ReadFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: expected a regular file, found %s", path, fileKind(st.Mode()))
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s: expected a scenario file of at most %s, found one of %s", path, sizeText(MaxFileSize), sizeText(uint64(st.Size())))
	}
	src, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(src) > MaxFileSize {
		return nil, fmt.Errorf("%s: expected a scenario file of at most %s, found one that grew past it while it was read", path, sizeText(MaxFileSize))
	}
	return src, nil
}

// fileKind names the type of a file that is not regular.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a file of mode " + m.String()
}
