package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// process is a test server's process (MinIO, the other S3 servers): what
// it prints, the directory it keeps its data in, and its end.
type process struct {
	cmd      *exec.Cmd
	dir      string
	log      *lockedBuffer
	done     chan struct{}
	stopOnce sync.Once
}

// start starts cmd as serverAttr says and keeps what it prints. On failure
// dir is removed.
func (p *process) start(name string, cmd *exec.Cmd, dir string) error {
	p.cmd, p.dir, p.log, p.done = cmd, dir, &lockedBuffer{}, make(chan struct{})
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = serverAttr()
	// The parent-death signal follows the thread that forks, not the
	// process: the server is started and waited for on a thread held for
	// that alone, so no other goroutine's end of its thread can kill it.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("start %s: %w", name, err)
	}
	return nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop stops the server and removes its data.
func (p *process) Stop() {
	p.stopOnce.Do(func() {
		pgid := -p.cmd.Process.Pid
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(pgid, syscall.SIGKILL)
			<-p.done
		}
		os.RemoveAll(p.dir)
	})
}

// Log returns what the server printed.
func (p *process) Log() string { return p.log.String() }

// launchRetrying calls launch up to three times: free ports are found by
// binding and releasing them, so another process may take one first.
func launchRetrying[T any](launch func() (T, error)) (T, error) {
	var v T
	var err error
	for range 3 {
		if v, err = launch(); err == nil {
			break
		}
	}
	return v, err
}

// toolBinary finds a test server's binary: $env, then PATH, then the tools
// folder the install scripts write to. missing makes the error for a
// binary in none of them, given the path it had in the tools folder.
func toolBinary(env, binary string, missing func(toolsPath string) error) (string, error) {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", env, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath(binary); err == nil {
		return p, nil
	}
	p := filepath.Join(toolsDir(), "bin", binary)
	if _, err := os.Stat(p); err != nil {
		return "", missing(p)
	}
	return p, nil
}

func toolsDir() string {
	if tools := os.Getenv("FLOX_PUBLISH_TOOLS"); tools != "" {
		return tools
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "flox-publish-tools")
}

// s3Client is a path-style S3 client of a test server.
func s3Client(region, endpoint string, creds aws.CredentialsProvider) *s3.Client {
	return s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  creds,
	})
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// The servers log little once started; cap what is kept anyway.
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
