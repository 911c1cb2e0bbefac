// Package sandbox runs repository code (build and version commands, `flox
// build`) apart from the action.
//
// When the action runs as root (in its container, as GitHub starts it),
// every command runs as a user of its own: a uid no other process uses,
// with no supplementary groups. Such a process cannot read the action's
// environment, command line, memory or open files through /proc (the
// action is also non-dumpable, see Harden), cannot write anything the
// action owns, and everything it starts, even what leaves its process
// group with setsid or a double fork, is ended when the command ends,
// because every process of that uid is.
//
// Outside a container (a terminal, not root) commands run as the current
// user: Dropped reports false and Describe says so, for the report.
//
// Harden and KillChildren are for the action's own process: the first
// keeps other processes out of its memory, the second ends what it started
// when a cancelled run is abandoned.
package sandbox

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultTimeout is the build-timeout input's default. GitHub ends a job
// on its hosted runners after 6 hours without letting the action report;
// 5 hours leaves the last hour to the upload and the report, so that a
// hung build fails with its name instead of with a cancelled job.
const DefaultTimeout = 5 * time.Hour

// uid range for build users: above what useradd, systemd's dynamic users,
// Nix's build users (30000+) and the 65536-wide subuid ranges of rootless
// containers hand out, below the overflow uid 65534 of other namespaces'.
const (
	uidBase  = 1 << 30
	uidRange = 1 << 20
)

// Options configures a sandbox.
type Options struct {
	// UID is the build user when the action is root; 0 picks an unused one.
	UID int
	// Timeout bounds each command; 0 means DefaultTimeout.
	Timeout time.Duration
	// Env is added to every command's environment as the build user, such
	// as how to reach the action's Nix daemon.
	Env []string
}

// Sandbox runs commands as the build user.
type Sandbox struct {
	uid, gid int
	dropped  bool
	timeout  time.Duration
	env      []string
}

// New returns the sandbox for this process: a build user of its own when
// the process is root, the current user otherwise.
func New(opts Options) (*Sandbox, error) {
	s := &Sandbox{timeout: opts.Timeout, env: opts.Env}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if os.Geteuid() != 0 {
		s.uid, s.gid = os.Getuid(), os.Getgid()
		return s, nil
	}
	uid := opts.UID
	if uid == 0 {
		var err error
		if uid, err = pickUID(); err != nil {
			return nil, err
		}
	}
	s.uid, s.gid, s.dropped = uid, uid, true
	return s, nil
}

// Current runs commands as the current user, with the default timeout:
// what callers that were given no sandbox get.
func Current() *Sandbox {
	return &Sandbox{uid: os.Getuid(), gid: os.Getgid(), timeout: DefaultTimeout}
}

// commandTag marks the environment of a command and of every process it
// starts, so that without a build user they can be found (see sweep). It
// is the same on every run of the same command in the same directory, so
// that builds that record their environment stay reproducible (the local
// builder runs every build in one fixed directory, one run at a time);
// commands in different directories, such as two runs' clean clones, get
// different tags.
func commandTag(dir, what string) string {
	sum := sha256.Sum256([]byte(dir + "\x00" + what))
	return hex.EncodeToString(sum[:16])
}

// pickUID returns a uid in the build range that no process uses and no
// file of /etc/passwd names. The uid is dedicated to this run, which is
// what makes ending every process of it safe.
func pickUID() (int, error) {
	passwd, _ := os.ReadFile("/etc/passwd")
	for range 32 {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("pick a build user: %w", err)
		}
		uid := uidBase + int(binary.LittleEndian.Uint32(b[:])%uidRange)
		if strings.Contains(string(passwd), ":"+strconv.Itoa(uid)+":") {
			continue
		}
		// The system's user database too (macOS keeps its users in
		// Directory Services, not /etc/passwd).
		if _, err := user.LookupId(strconv.Itoa(uid)); err == nil {
			continue
		}
		if n, _ := processesOf(uid); n == 0 {
			return uid, nil
		}
	}
	return 0, errors.New("pick a build user: no unused uid found")
}

// Dropped reports whether commands run as a user of their own.
func (s *Sandbox) Dropped() bool { return s.dropped }

// UID is the uid commands run as.
func (s *Sandbox) UID() int { return s.uid }

// Timeout is the bound on each command.
func (s *Sandbox) Timeout() time.Duration { return s.timeout }

// Describe says, for the report, whom builds run as: it is printed whether
// or not a build ran (a run that fails its checks builds nothing).
func (s *Sandbox) Describe() string {
	if s.dropped {
		return fmt.Sprintf("builds run as uid %d, a user of their own that cannot read the action's environment, memory or files, nor write the workspace or the cache; every process they start is ended with them", s.uid)
	}
	return fmt.Sprintf("builds run as the current user (uid %d), like the action: they can read what that user reads (the workspace, with any credentials in its .git/config); %s. Their environment holds no secret, and the processes they start are found by a marker in their environment and ended with them (one that clears its environment and leaves its process group can outlive them). Run the action as root (in its container, or through passwordless sudo, as the native action does on hosted runners) to run them as a user of their own", s.uid, sameUserNote)
}

// Env is what a command's environment needs for the build user: git
// refuses a repository that another user owns (the clean clone belongs to
// the action), so version commands such as `git describe` trust it.
func (s *Sandbox) Env() []string {
	if !s.dropped {
		return nil
	}
	return append([]string{"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=safe.directory", "GIT_CONFIG_VALUE_0=*"}, s.env...)
}

// Own gives the build user the directories a command may write (its
// output, home and temporary directories), and lets it reach them: every
// parent up to and including stop becomes searchable (not listable) by
// others. Paths are changed whole, without following symlinks.
func (s *Sandbox) Own(stop string, dirs ...string) error {
	if !s.dropped {
		return nil
	}
	for _, d := range dirs {
		if err := s.chownTree(d, ""); err != nil {
			return err
		}
		if err := searchable(stop, filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// OwnWorktree gives the build user a checkout's files, but not its .git,
// so a build may write into its sources (as builds do) but cannot change
// the commit it was cloned from.
func (s *Sandbox) OwnWorktree(stop, dir string) error {
	if !s.dropped {
		return nil
	}
	if err := s.chownTree(dir, filepath.Join(dir, ".git")); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(dir, ".git"), 0o755); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sandbox: %w", err)
	}
	return searchable(stop, filepath.Dir(dir))
}

func (s *Sandbox) chownTree(root, skip string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("sandbox: give %s to the build user: %w", p, err)
		}
		if p == skip {
			return filepath.SkipDir
		}
		// A file with another name elsewhere may be one the build user
		// linked there (where fs.protected_hardlinks is off) to be given
		// it; a checkout or a fresh directory holds none.
		if !d.IsDir() {
			fi, err := d.Info()
			if err != nil {
				return fmt.Errorf("sandbox: give %s to the build user: %w", p, err)
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
				return fmt.Errorf("sandbox: %s has %d hard links; it is not given to the build user, since a clean clone holds none", p, st.Nlink)
			}
		}
		if err := os.Lchown(p, s.uid, s.gid); err != nil {
			return fmt.Errorf("sandbox: give %s to the build user: %w", p, err)
		}
		return nil
	})
}

// searchable adds o+x to dir and its parents up to stop.
func searchable(stop, dir string) error {
	stop = filepath.Clean(stop)
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				return fmt.Errorf("sandbox: %w", err)
			}
		}
		if d == stop || d == filepath.Dir(d) || !strings.HasPrefix(d, stop) {
			return nil
		}
	}
}

// Disown gives the action back what the build user owned under dir, once
// its processes are gone, so nothing it wrote can change while the action
// reads it (a symlink swapped in after a check, say).
func (s *Sandbox) Disown(dirs ...string) error {
	if !s.dropped {
		return nil
	}
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, os.Getuid(), os.Getgid())
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sandbox: take back %s: %w", d, err)
		}
	}
	return nil
}

// Command is exec.Command for a command of the build: in a process group
// of its own, as the build user. Start it with Run, which bounds it.
func (s *Sandbox) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if s.dropped {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(s.uid), Gid: uint32(s.gid), Groups: []uint32{}}
	}
	return cmd
}

// TimeoutError is a command that ran longer than the build timeout.
type TimeoutError struct {
	What    string
	Timeout time.Duration
	// Fix says how to allow more time, in the words of where the run is;
	// the edge sets it (the build-timeout input or flag).
	Fix string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s ran longer than the build timeout (%s) and was ended with every process it started; make it faster or %s",
		e.What, e.Timeout, cmp.Or(e.Fix, "allow it more time"))
}

// Run starts cmd (made by Command) and waits for it, at most the timeout.
// When it exits, fails, times out or ctx is cancelled (SIGTERM/SIGINT),
// its whole process group is killed and, with a build user, every process
// of that user, within seconds. what names the command in errors
// ("build \"hello\"").
func (s *Sandbox) Run(ctx context.Context, cmd *exec.Cmd, what string) error {
	// The command writes into pipes of ours rather than os/exec's, whose
	// Wait would wait for every process holding them, such as a
	// background process the build left: Wait returns when the command
	// exits, then the rest is ended, then the output is drained.
	out, err := redirect(cmd)
	if err != nil {
		return err
	}
	defer out.close()
	// In every command's environment, with a build user or not, so that
	// a build sees the same environment either way.
	tag := commandTag(cmd.Dir, what)
	cmd.Env = append(cmd.Environ(), tagVar+"="+tag)
	if err := start(cmd); err != nil {
		return err
	}
	out.started()
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	select {
	case err = <-done:
	case <-timer.C:
		s.end(pgid, tag)
		<-done
		err = &TimeoutError{What: what, Timeout: s.timeout}
	case <-ctx.Done():
		s.end(pgid, tag)
		<-done
		err = fmt.Errorf("%s was cancelled and ended with every process it started: %w", what, context.Cause(ctx))
	}
	// What it left behind: background processes, double forks.
	if kerr := s.end(pgid, tag); kerr != nil && err == nil {
		err = fmt.Errorf("%s: %w", what, kerr)
	}
	out.drain(2 * time.Second)
	return err
}

// pipes copies a command's output from pipes of our own.
type pipes struct {
	readers, writers []*os.File
	done             sync.WaitGroup
}

func redirect(cmd *exec.Cmd) (*pipes, error) {
	p := &pipes{}
	made := map[io.Writer]*os.File{}
	for _, w := range []*io.Writer{&cmd.Stdout, &cmd.Stderr} {
		if *w == nil {
			continue
		}
		if _, ok := (*w).(*os.File); ok {
			continue
		}
		if f, ok := made[*w]; ok { // one pipe when both go to one writer, in order
			*w = f
			continue
		}
		r, pw, err := os.Pipe()
		if err != nil {
			p.close()
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		dst := *w
		made[dst] = pw
		p.readers, p.writers = append(p.readers, r), append(p.writers, pw)
		p.done.Add(1)
		go func() {
			defer p.done.Done()
			io.Copy(dst, r)
		}()
		*w = pw
	}
	return p, nil
}

// started closes our copies of the write ends, so that the readers see
// the end once the command's processes are gone.
func (p *pipes) started() {
	for _, w := range p.writers {
		w.Close()
	}
	p.writers = nil
}

// drain waits for the output, at most d (a process that escaped ending,
// when there is no build user, may hold a pipe open).
func (p *pipes) drain(d time.Duration) {
	ch := make(chan struct{})
	go func() { p.done.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(d):
	}
	p.close()
}

func (p *pipes) close() {
	for _, f := range append(p.readers, p.writers...) {
		f.Close()
	}
	p.readers, p.writers = nil, nil
}

// end kills the group and every process of the build user, and waits (a
// few seconds at most) until none is left.
func (s *Sandbox) end(pgid int, tag string) error {
	syscall.Kill(-pgid, syscall.SIGKILL)
	if !s.dropped {
		return s.sweep(tag)
	}
	if s.uid == 0 || s.uid == os.Getuid() {
		return errors.New("sandbox: refusing to end every process of the action's own uid")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := processesOf(s.uid)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d processes of build user %d could not be ended", n, s.uid)
		}
		s.killAll()
		time.Sleep(20 * time.Millisecond)
	}
}

// sweep ends, without a build user, what a command left that is still
// running: the processes of this user whose environment carries the
// command's tag (Run puts it in its environment), also those that left
// the process group. kill(-1) cannot be used here: from the action's own
// uid it would end the action and everything else of its user.
// A process that clears its environment and leaves its group escapes it;
// Describe says so.
func (s *Sandbox) sweep(tag string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := tagged(s.uid, tag)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d processes the command started could not be ended", len(pids))
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// killAll sends SIGKILL to every process of the build user at once, as the
// kernel does for kill(-1) from a process of that user (all it may signal,
// except itself), which a fork loop cannot outrun as it could a scan.
func (s *Sandbox) killAll() {
	cmd := exec.Command("/bin/sh", "-c", "kill -KILL -1 2>/dev/null; exit 0")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Credential: &syscall.Credential{Uid: uint32(s.uid), Gid: uint32(s.gid), Groups: []uint32{}},
	}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	_ = cmd.Run()
}

// RunnerDir is where the runner mounts the workspace, HOME, the event
// file and the file-command files into the action's container.
const RunnerDir = "/github"

// Hide makes each existing dir reachable by its owner only (mode 0700),
// so that the build user cannot reach what is under it: in the container,
// RunnerDir, which is the container's own directory (the mounts are below
// it), so nothing outside the container changes. Only when commands run
// as a build user.
func (s *Sandbox) Hide(dirs ...string) error {
	if !s.dropped {
		return nil
	}
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		if err := os.Chmod(d, fi.Mode().Perm()&0o700); err != nil {
			return fmt.Errorf("sandbox: hide %s from builds: %w", d, err)
		}
	}
	return nil
}

// HideFor closes dir to the build user (mode 0700: its owner, the
// runner's user, keeps every right) until the returned function gives it
// its mode back. For a directory of the runner's, outside the container:
// a run killed before it reopens leaves it to its owner alone, which
// costs that owner nothing. Only when commands run as a build user.
func (s *Sandbox) HideFor(dir string) (reopen func() error, err error) {
	if !s.dropped {
		return func() error { return nil }, nil
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return func() error { return nil }, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	mode := fi.Mode().Perm()
	if err := os.Chmod(dir, mode&0o700); err != nil {
		return nil, fmt.Errorf("sandbox: close %s to builds: %w", dir, err)
	}
	return func() error {
		if err := os.Chmod(dir, mode); err != nil {
			return fmt.Errorf("sandbox: give %s its mode %o back: %w", dir, mode, err)
		}
		return nil
	}, nil
}
