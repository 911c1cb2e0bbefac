// Package nixdaemon runs the Nix daemon the flox builder's build user
// talks to inside the action's container.
//
// Builds run as a user that cannot write /nix (see internal/sandbox); Nix,
// run by such a user, uses the daemon's socket when the store is not its
// own, as on any multi-user installation. The daemon runs as root, builds
// derivations as the image's nixbld users (nix.conf: build-users-group),
// and is started only when the action is root and nix-daemon is on PATH;
// it is stopped when the action ends, and dies with it if the action is
// killed (a parent-death signal).
//
// It listens on a socket of its own, not on Nix's usual one: builds reach
// it through NIX_DAEMON_SOCKET_PATH (see Env), so a daemon the host runs,
// and the permissions of its socket directory (root:nix-users 0770 on
// Debian), neither serve nor block the build user.
package nixdaemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Socket is where Nix clients look for a daemon by default.
const Socket = "/nix/var/nix/daemon-socket/socket"

// Options configures the daemon.
type Options struct {
	// GitHubToken, when set, is given to the daemon (only to it) as
	// access-tokens for github.com, through NIX_CONFIG in its environment:
	// never written to a file of the image, never in a build's
	// environment (the evaluator of a build user runs without it).
	GitHubToken string
	// Socket is where the daemon listens; "" makes a directory of its own
	// for it, which Stop removes.
	Socket string
	// Log receives the daemon's output.
	Log *os.File
}

// Daemon is a running nix-daemon; the zero value (nothing started) is
// valid and Stop does nothing.
type Daemon struct {
	cmd    *exec.Cmd
	done   chan struct{}
	socket string
	dir    string // made for the socket, removed by Stop
	// manager is what runs a system daemon (System), for the summary.
	manager string
	sandbox string // a system daemon's sandbox setting
	// lifeline, where the system has no parent-death signal, is the
	// write end of a pipe whose closing (at Stop, or when the action
	// dies) ends the daemon.
	lifeline *os.File
}

// Env is what a Nix client needs in its environment to use the daemon:
// nil for no daemon (the client's own Nix set-up applies).
func (d *Daemon) Env() []string {
	if d == nil {
		return nil
	}
	return []string{"NIX_REMOTE=daemon", "NIX_DAEMON_SOCKET_PATH=" + d.socket}
}

// Start starts nix-daemon when the process is root and nix-daemon is on
// PATH, unless a daemon already answers on opts.Socket. It returns once the
// socket answers, within 10 seconds. A nil Daemon with a nil error means
// none was needed or possible (not root: the user's own Nix set-up is
// used).
func Start(ctx context.Context, opts Options) (*Daemon, error) {
	if os.Geteuid() != 0 || opts.Socket != "" && answers(opts.Socket) {
		return nil, nil
	}
	bin, err := exec.LookPath("nix-daemon")
	if err != nil {
		return nil, nil
	}
	d := &Daemon{done: make(chan struct{}), socket: opts.Socket}
	if d.socket == "" {
		// Searchable, not listable, by the build user; nix-daemon makes
		// the socket itself 0666. Not under TMPDIR: a socket's path has at
		// most 107 bytes.
		if d.dir, err = socketDir(); err != nil {
			return nil, fmt.Errorf("start nix-daemon: %w", err)
		}
		if err := os.Chmod(d.dir, 0o711); err != nil {
			os.RemoveAll(d.dir)
			return nil, fmt.Errorf("start nix-daemon: %w", err)
		}
		d.socket = d.dir + "/socket"
	}
	sock := d.socket
	cmd, lifeline, err := command(bin)
	if err != nil {
		d.removeDir()
		return nil, fmt.Errorf("start nix-daemon: %w", err)
	}
	d.lifeline = lifeline
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/root"}
	if v := os.Getenv("NIX_CONF_DIR"); v != "" {
		cmd.Env = append(cmd.Env, "NIX_CONF_DIR="+v)
	}
	if opts.GitHubToken != "" {
		cmd.Env = append(cmd.Env, "NIX_CONFIG=access-tokens = github.com="+opts.GitHubToken)
	}
	cmd.Env = append(cmd.Env, "NIX_DAEMON_SOCKET_PATH="+sock)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
	// Its own process group (command sets it): a Ctrl-C in a terminal
	// reaches the action, which stops the daemon after the builds it
	// serves. A killed action takes the daemon with it, and with it the
	// token in its environment.
	if err := cmd.Start(); err != nil {
		d.closeLifeline()
		d.removeDir()
		return nil, fmt.Errorf("start nix-daemon: %w", err)
	}
	d.cmd = cmd
	go func() { cmd.Wait(); close(d.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for !answers(sock) {
		select {
		case <-d.done:
			return nil, fmt.Errorf("nix-daemon exited at start (%v); its log is above", cmd.ProcessState)
		case <-ctx.Done():
			d.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.Stop()
			return nil, errors.New("nix-daemon did not open " + sock + " within 10s")
		}
	}
	return d, nil
}

// Stop ends the daemon and its workers: SIGTERM, then SIGKILL after 5s.
func (d *Daemon) Stop() {
	if d == nil || d.cmd == nil {
		return
	}
	pgid := d.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-d.done
	}
	syscall.Kill(-pgid, syscall.SIGKILL) // workers still in the group
	d.closeLifeline()
	d.removeDir()
}

func (d *Daemon) closeLifeline() {
	if d.lifeline != nil {
		d.lifeline.Close()
	}
}

// socketDir makes a directory for the socket in /run, or /tmp where /run
// cannot be written. It first removes the directories of killed runs:
// those whose socket no daemon answers on, a minute after they were made
// (a concurrent run's daemon may still be starting).
func socketDir() (string, error) {
	const pattern = "flox-publish-nix-"
	for _, base := range []string{"/run", "/tmp"} {
		old, _ := filepath.Glob(filepath.Join(base, pattern+"*"))
		for _, o := range old {
			if fi, err := os.Stat(o); err == nil && time.Since(fi.ModTime()) > time.Minute && !answers(filepath.Join(o, "socket")) {
				os.RemoveAll(o)
			}
		}
	}
	dir, err := os.MkdirTemp("/run", pattern)
	if err != nil {
		dir, err = os.MkdirTemp("/tmp", pattern)
	}
	return dir, err
}

func (d *Daemon) removeDir() {
	if d.dir != "" {
		os.RemoveAll(d.dir)
	}
}

func answers(sock string) bool {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
