package scenario

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// token is one word of a line.
type token struct {
	text   string // as written; a quoted string keeps its quotes
	col    int    // 1-based byte column of the first byte
	quoted bool   // a double-quoted string (only about takes one)
}

// end is the column just past the token: where a missing word would go.
func (t token) end() int { return t.col + len(t.text) }

// srcLine is one line of a scenario file split into words.
type srcLine struct {
	num  int
	text string // the line without its comment, trimmed
	toks []token
}

// lexLine splits line s (without its line ending) into words, appended
// to buf[:0] (the words of a line are not kept past its parse: the
// parser hands the same buffer to every line).
//
// On a lexical error it returns the error together with the words that
// precede the offending character: the caller still learns what the line
// declares (a region, an actor, ...) so that later lines do not report
// knock-on errors about names this line meant to define.
func lexLine(file string, num int, s string, buf []token) (srcLine, *Error) {
	bad, msg := checkChars(s)
	if bad >= 0 {
		// Words cut at the bad character may look like an unterminated
		// string; that is not the problem to report.
		ln, _, _ := splitWords(s[:bad], buf)
		ln.num = num
		return ln, &Error{Pos{file, num, bad + 1}, msg}
	}
	ln, col, msg := splitWords(s, buf)
	ln.num = num
	if col > 0 {
		return ln, &Error{Pos{file, num, col}, msg}
	}
	return ln, nil
}

// checkChars finds the first byte of s that is not valid UTF-8 or is a
// control character other than tab, and says what is wrong with it. It
// returns -1 when s is clean.
func checkChars(s string) (int, string) {
	for i := 0; i < len(s); {
		c := s[i]
		if c-0x20 < 0x7f-0x20 { // printable ASCII, most of any line
			i++
			continue
		}
		if c < utf8.RuneSelf {
			if c == '\t' || (c >= 0x20 && c != 0x7f) {
				i++
				continue
			}
			if c == '\r' {
				return i, "carriage return in the middle of a line (lines end in \\n or \\r\\n)"
			}
			return i, fmt.Sprintf("control character %U is not allowed (only tab)", rune(c))
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return i, fmt.Sprintf("invalid UTF-8 (byte 0x%02x)", c)
		}
		if unicode.IsControl(r) {
			return i, fmt.Sprintf("control character %U is not allowed (only tab)", r)
		}
		i += n
	}
	return -1, ""
}

// splitWords splits a clean line into words. A word that starts with a
// double quote runs to the next double quote, spaces and # included (the
// free text of about). It returns the column and message of a lexical
// error, or 0; on error the words before the bad one are returned. The
// words are appended to buf[:0].
func splitWords(s string, buf []token) (ln srcLine, col int, msg string) {
	ln.toks = buf[:0]
	comment := len(s)
	i := 0
scan:
	for i < len(s) {
		switch c := s[i]; c {
		case ' ', '\t':
			i++
		case '#':
			comment = i
			break scan
		case '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return ln, i + 1, `unterminated string: expected a closing " on the same line`
			}
			end := i + 1 + j + 1
			if end < len(s) && s[end] != ' ' && s[end] != '\t' && s[end] != '#' {
				return ln, end + 1, fmt.Sprintf("expected a space after the closing quote, found %s", quote(s[end:wordEnd(s, end)]))
			}
			ln.toks = append(ln.toks, token{text: s[i:end], col: i + 1, quoted: true})
			i = end
		default:
			j := wordEnd(s, i)
			ln.toks = append(ln.toks, token{text: s[i:j], col: i + 1})
			i = j
		}
	}
	ln.text = strings.Trim(s[:comment], " \t")
	return ln, 0, ""
}

// wordEnd returns the index just past the plain word that starts at i.
func wordEnd(s string, i int) int {
	for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '#' {
		i++
	}
	return i
}

// quote quotes a word for an error message, shortening a long one so that
// a pathological input cannot make a pathological message.
func quote(s string) string {
	const limit = 40
	if len(s) <= limit {
		return fmt.Sprintf("%q", s)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q...", s[:cut])
}
