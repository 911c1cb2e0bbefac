package manifest

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Position is a place in a file, 1-based. Col counts characters, not bytes,
// because that is what an editor or a GitHub annotation shows.
type Position struct {
	File      string
	Line, Col int
}

func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is a problem in a manifest or lock at a known place. The caller turns
// it into an annotation on that line with errors.As.
type Error struct {
	Pos Position
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList is what ParseManifest returns when a manifest has several
// problems: a CI run should report all of them at once rather than one per
// push. errors.As(err, &*Error) finds the first; Errors lists every one.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// err returns nil for no errors, the *Error for one, the list for more.
func (l ErrorList) err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	return l
}

// Unwrap lets errors.As and errors.Is see each *Error.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Errors returns every positioned error inside err (an *Error, an ErrorList,
// or anything wrapping them), in file order.
func Errors(err error) (out []*Error) {
	switch e := err.(type) {
	case *Error:
		return []*Error{e}
	case interface{ Unwrap() []error }: // ErrorList too
		for _, inner := range e.Unwrap() {
			out = append(out, Errors(inner)...)
		}
	case interface{ Unwrap() error }:
		return Errors(e.Unwrap())
	}
	return out
}

// maxErrors bounds how many problems one manifest reports: past a handful,
// the rest are usually consequences of the first ones.
const maxErrors = 20

// source maps byte offsets of one file to positions.
type source struct {
	file       string
	data       []byte
	lineStarts []int
}

func newSource(file string, data []byte) *source {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return &source{file: file, data: data, lineStarts: starts}
}

func (s *source) pos(off int) Position {
	if off < 0 {
		off = 0
	}
	if off > len(s.data) {
		off = len(s.data)
	}
	line := sort.Search(len(s.lineStarts), func(i int) bool { return s.lineStarts[i] > off }) - 1
	start := s.lineStarts[line]
	return Position{File: s.file, Line: line + 1, Col: utf8.RuneCount(s.data[start:off]) + 1}
}

// offsetOf converts a line and a byte column (as go-toml reports them) to
// an offset; pos clamps it to the file.
func (s *source) offsetOf(line, byteCol int) int {
	if line > len(s.lineStarts) {
		return len(s.data)
	}
	return s.lineStarts[max(line, 1)-1] + byteCol - 1
}

func (s *source) errorf(off int, format string, args ...any) *Error {
	return &Error{Pos: s.pos(off), Msg: fmt.Sprintf(format, args...)}
}
