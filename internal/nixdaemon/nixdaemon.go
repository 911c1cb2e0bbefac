// Package nixdaemon runs the Nix daemon the flox builder's build user
// talks to inside the action's container.
//
// Builds run as a user that cannot write /nix (see internal/sandbox); Nix,
// run by such a user, uses the daemon's socket when the store is not its
// own, as on any multi-user installation. The daemon runs as root, builds
// derivations as the image's nixbld users (nix.conf: build-users-group),
// and is started only when the action is root, the socket is not served
// already and nix-daemon is on PATH; it is stopped when the action ends.
package nixdaemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Socket is where Nix clients look for the daemon.
const Socket = "/nix/var/nix/daemon-socket/socket"

// Options configures the daemon.
type Options struct {
	// GitHubToken, when set, is given to the daemon (only to it) as
	// access-tokens for github.com, through NIX_CONFIG in its environment:
	// never written to a file of the image, never in a build's
	// environment (the evaluator of a build user runs without it).
	GitHubToken string
	// Socket overrides Socket (tests).
	Socket string
	// Log receives the daemon's output.
	Log *os.File
}

// Daemon is a running nix-daemon; the zero value (nothing started) is
// valid and Stop does nothing.
type Daemon struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts nix-daemon when the process is root, no daemon answers on
// the socket and nix-daemon is on PATH. It returns once the socket
// answers, within 10 seconds. A nil Daemon with a nil error means none was
// needed or possible (not root: the user's own Nix set-up is used).
func Start(ctx context.Context, opts Options) (*Daemon, error) {
	sock := opts.Socket
	if sock == "" {
		sock = Socket
	}
	if os.Geteuid() != 0 || answers(sock) {
		return nil, nil
	}
	bin, err := exec.LookPath("nix-daemon")
	if err != nil {
		return nil, nil
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/root"}
	if v := os.Getenv("NIX_CONF_DIR"); v != "" {
		cmd.Env = append(cmd.Env, "NIX_CONF_DIR="+v)
	}
	if opts.GitHubToken != "" {
		cmd.Env = append(cmd.Env, "NIX_CONFIG=access-tokens = github.com="+opts.GitHubToken)
	}
	if opts.Socket != "" {
		cmd.Env = append(cmd.Env, "NIX_DAEMON_SOCKET_PATH="+opts.Socket)
	}
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
	// Its own process group: a Ctrl-C in a terminal reaches the action,
	// which stops the daemon after the builds it serves.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nix-daemon: %w", err)
	}
	d := &Daemon{cmd: cmd, done: make(chan struct{})}
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
}

func answers(sock string) bool {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
