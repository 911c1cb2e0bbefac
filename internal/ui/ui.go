// Package ui is how a run talks to people: workflow commands, annotations,
// outputs and the job summary in GitHub Actions; plain lines in a terminal.
//
// Every byte written through a UI passes a redactor that replaces the
// run's secrets with ***, in Actions as well as in a terminal: the
// runner's own masking only covers values it was told about before they
// were printed, and only in the Actions log.
package ui

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/sethvargo/go-githubactions"

	"github.com/flox-publish/publish-action/internal/workflow"
)

// Location points an annotation at a file position.
type Location struct {
	File      string // absolute, or relative to the workspace
	Line, Col int
}

// Located is implemented by errors that know where in a file they are
// (manifest errors), so they become annotations on that line.
type Located interface {
	error
	Location() Location
}

// UI writes to a terminal or to the Actions runner.
type UI struct {
	run workflow.Run
	out *redactor
	gha *githubactions.Action
	// masker writes ::add-mask:: commands around the redactor, which
	// would otherwise blank out the very value the runner must learn.
	masker *githubactions.Action
}

// New returns a UI writing to w, with workflow commands when run is in
// Actions.
func New(run workflow.Run, w io.Writer) *UI {
	r := &redactor{w: w}
	u := &UI{run: run, out: r}
	// The commands it writes read no environment: run has what they need.
	none := githubactions.WithGetenv(func(string) string { return "" })
	u.gha = githubactions.New(none, githubactions.WithWriter(r))
	u.masker = githubactions.New(none, githubactions.WithWriter(w))
	return u
}

// InActions reports whether the run is in GitHub Actions.
func (u *UI) InActions() bool { return u.run.InActions }

// Mask hides a secret from everything this UI writes, and asks the runner
// to hide it from the rest of the job's log.
func (u *UI) Mask(secret string) {
	for _, s := range strings.Split(secret, "\n") {
		s = strings.TrimSpace(s)
		// Masking tiny strings would blank out ordinary text; a secret
		// already masked (an input that is also the loaded key) needs no
		// second command.
		if len(s) < 4 || !u.out.add(s) {
			continue
		}
		if u.run.InActions {
			u.out.Flush()
			u.masker.AddMask(s)
		}
	}
}

// Writer returns a writer for streamed text, such as build logs; it
// redacts secrets, also when a secret is split across writes.
func (u *UI) Writer() io.Writer { return u.out }

// Printf writes a line of information.
func (u *UI) Printf(format string, a ...any) {
	fmt.Fprintf(u.out, format+"\n", a...)
}

// Group starts a collapsible log group; the returned func ends it.
func (u *UI) Group(title string) (end func()) {
	if u.run.InActions {
		u.gha.Group(title)
		return func() { u.out.Flush(); u.gha.EndGroup() }
	}
	fmt.Fprintf(u.out, "==> %s\n", title)
	return func() { u.out.Flush() }
}

// Warning reports a warning: an annotation in Actions.
func (u *UI) Warning(format string, a ...any) {
	if u.run.InActions {
		u.gha.Warningf(format, a...)
		return
	}
	fmt.Fprintf(u.out, "warning: "+format+"\n", a...)
}

// Notice reports a notice: an annotation in Actions.
func (u *UI) Notice(format string, a ...any) {
	if u.run.InActions {
		u.gha.Noticef(format, a...)
		return
	}
	fmt.Fprintf(u.out, format+"\n", a...)
}

// Error reports an error. Errors that carry file positions (one or many,
// joined) become annotations on those lines in Actions.
func (u *UI) Error(err error) {
	var located []Located
	collect(err, &located)
	if !u.run.InActions {
		fmt.Fprintf(u.out, "error: %v\n", err)
		return
	}
	if len(located) == 0 {
		u.gha.Errorf("%v", err)
		return
	}
	for _, l := range located {
		loc := l.Location()
		fields := map[string]string{"file": u.relative(loc.File), "title": "flox publish"}
		if loc.Line > 0 {
			fields["line"] = strconv.Itoa(loc.Line)
		}
		if loc.Col > 0 {
			fields["col"] = strconv.Itoa(loc.Col)
		}
		u.gha.WithFieldsMap(fields).Errorf("%v", l)
	}
}

// Locations returns the file positions err carries: those of every
// Located error in its tree (wrapped or joined), in order.
func Locations(err error) []Location {
	var located []Located
	collect(err, &located)
	out := make([]Location, len(located))
	for i, l := range located {
		out[i] = l.Location()
	}
	return out
}

func collect(err error, out *[]Located) {
	if err == nil {
		return
	}
	if l, ok := err.(Located); ok {
		*out = append(*out, l)
		return
	}
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			collect(inner, out)
		}
	case interface{ Unwrap() error }:
		collect(e.Unwrap(), out)
	}
}

// relative makes an annotation path relative to the workspace, as the
// runner needs it to attach the annotation to the file.
func (u *UI) relative(path string) string {
	ws := u.run.Workspace
	if ws == "" || !filepath.IsAbs(path) {
		return filepath.ToSlash(path)
	}
	if rel, err := filepath.Rel(ws, path); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return filepath.ToSlash(path)
}

// SetOutputs writes step outputs to $GITHUB_OUTPUT. Each value is written
// as a heredoc with a random delimiter, refused if the value contains it,
// so a value (a package description, a path) can never inject another
// output. Outside Actions it does nothing.
func (u *UI) SetOutputs(outputs [][2]string) error {
	file := u.run.Outputs
	if file == "" {
		if u.run.InActions {
			return errors.New("GITHUB_OUTPUT is not set: the runner did not provide an output file")
		}
		return nil
	}
	var b bytes.Buffer
	for _, kv := range outputs {
		name, value := kv[0], u.out.redact(kv[1])
		delim, err := delimiter()
		if err != nil {
			return err
		}
		if strings.Contains(value, delim) {
			return fmt.Errorf("output %s contains its delimiter", name)
		}
		fmt.Fprintf(&b, "%s<<%s\n%s\n%s\n", name, delim, value, delim)
	}
	return appendFile(file, b.Bytes())
}

// AddSummary appends Markdown to the job summary ($GITHUB_STEP_SUMMARY).
// Outside Actions it does nothing; the caller prints a terminal report.
func (u *UI) AddSummary(markdown string) error {
	file := u.run.Summary
	if file == "" {
		return nil
	}
	return appendFile(file, []byte(u.out.redact(markdown)))
}

func delimiter() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "ghadelimiter_" + hex.EncodeToString(b[:]), nil
}

func appendFile(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	return f.Close()
}

// redactor replaces secrets in what passes through it. It holds back an
// incomplete last line, so that a secret written in two pieces is still
// caught; Flush writes what is held back.
type redactor struct {
	mu      sync.Mutex
	w       io.Writer
	secrets []string
	pending []byte
}

// add registers a secret; false when it was known already.
func (r *redactor) add(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.Contains(r.secrets, s) {
		return false
	}
	r.secrets = append(r.secrets, s)
	return true
}

func (r *redactor) redact(s string) string {
	r.mu.Lock()
	secrets := r.secrets
	r.mu.Unlock()
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, "***")
	}
	return s
}

func (r *redactor) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.pending = append(r.pending, p...)
	i := bytes.LastIndexByte(r.pending, '\n')
	var line []byte
	if i >= 0 {
		line = append([]byte(nil), r.pending[:i+1]...)
		r.pending = append(r.pending[:0], r.pending[i+1:]...)
	}
	// A line that never ends must not grow without bound.
	if len(r.pending) > 64<<10 {
		line = append(line, r.pending...)
		r.pending = r.pending[:0]
	}
	r.mu.Unlock()
	if len(line) > 0 {
		if _, err := io.WriteString(r.w, r.redact(string(line))); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes any incomplete line held back.
func (r *redactor) Flush() {
	r.mu.Lock()
	rest := string(r.pending)
	r.pending = r.pending[:0]
	r.mu.Unlock()
	if rest != "" {
		io.WriteString(r.w, r.redact(rest)+"\n")
	}
}

// Flush writes anything held back by the redactor.
func (u *UI) Flush() { u.out.Flush() }
