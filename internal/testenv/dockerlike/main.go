// Command dockerlike starts a program the way Docker starts a container
// action's entrypoint, for the container test (container_test.go): in a
// root file system given as an overlay (a cached Debian tree below, the
// test's own layer above), with the runner's mounts bound under /github,
// a fresh /dev and /proc, the working directory and only the given
// environment, as root with Docker's default capability bounding set and
// a seccomp filter that refuses what Docker's default profile refuses to a
// container without CAP_SYS_ADMIN: creating or entering namespaces,
// mounting, pivot_root and the keyring calls.
//
// Paths must not hold commas (overlayfs options are comma-separated).
//
// It must be PID 1 of new mount and PID namespaces, which the test gives
// it with `unshare --mount --pid --fork --propagation private`; it execs
// the program, which becomes PID 1 as a container's entrypoint is, and
// when it exits every process left in the namespace is killed, as when a
// container stops. Linux on x86_64 only (the seccomp filter names its
// system call numbers).
//
//	dockerlike -lower DIR -upper DIR -work DIR -root DIR [-bind SRC:DST]...
//	           -workdir DIR -envfile FILE -- PROGRAM [ARG]...
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unsafe"
)

type binds []string

func (b *binds) String() string     { return strings.Join(*b, ",") }
func (b *binds) Set(v string) error { *b = append(*b, v); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dockerlike:", err)
		os.Exit(125) // as docker run does when it cannot start the container
	}
}

func run() error {
	var bs binds
	lower := flag.String("lower", "", "the cached root file system (read-only lower layer)")
	upper := flag.String("upper", "", "the container's writable layer")
	work := flag.String("work", "", "overlayfs work directory (same file system as -upper)")
	root := flag.String("root", "", "where the merged root is mounted")
	workdir := flag.String("workdir", "/github/workspace", "working directory in the container")
	envfile := flag.String("envfile", "", "the environment, NUL-separated KEY=VALUE")
	flag.Var(&bs, "bind", "SRC:DST, bound read-write at DST in the container")
	flag.Parse()
	argv := flag.Args()
	if len(argv) == 0 || *lower == "" || *upper == "" || *work == "" || *root == "" {
		return fmt.Errorf("usage: dockerlike -lower DIR -upper DIR -work DIR -root DIR [-bind SRC:DST]... -envfile FILE -- PROGRAM [ARG]...")
	}
	if os.Getpid() != 1 {
		return fmt.Errorf("must be PID 1 of a new PID namespace (run it under unshare --mount --pid --fork --propagation private)")
	}
	runtime.LockOSThread() // capabilities and seccomp filters are per thread: exec from this one

	env := []string{}
	if *envfile != "" {
		data, err := os.ReadFile(*envfile)
		if err != nil {
			return err
		}
		for _, kv := range bytes.Split(data, []byte{0}) {
			if len(kv) > 0 {
				env = append(env, string(kv))
			}
		}
	}

	if err := syscall.Mount("overlay", *root, "overlay", 0,
		fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", *lower, *upper, *work)); err != nil {
		return fmt.Errorf("mount the root overlay: %w", err)
	}
	for _, b := range bs {
		src, dst, ok := strings.Cut(b, ":")
		if !ok {
			return fmt.Errorf("-bind %q: want SRC:DST", b)
		}
		target := filepath.Join(*root, dst)
		if fi, err := os.Stat(src); err == nil && !fi.IsDir() {
			os.MkdirAll(filepath.Dir(target), 0o755)
			if f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				f.Close()
			}
		} else if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		if err := syscall.Mount(src, target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s at %s: %w", src, dst, err)
		}
	}
	if err := mountDevProc(*root); err != nil {
		return err
	}
	if err := syscall.Chroot(*root); err != nil {
		return fmt.Errorf("chroot %s: %w", *root, err)
	}
	os.MkdirAll(*workdir, 0o755) // docker run creates a missing --workdir
	if err := syscall.Chdir(*workdir); err != nil {
		return fmt.Errorf("workdir %s: %w", *workdir, err)
	}
	if err := dropBoundingSet(); err != nil {
		return err
	}
	if err := installSeccomp(); err != nil {
		return err
	}
	prog := argv[0]
	if !strings.Contains(prog, "/") {
		for _, kv := range env {
			if p, ok := strings.CutPrefix(kv, "PATH="); ok {
				for _, d := range filepath.SplitList(p) {
					if _, err := os.Stat(filepath.Join(d, prog)); err == nil {
						prog = filepath.Join(d, prog)
						break
					}
				}
			}
		}
	}
	return syscall.Exec(prog, argv, env)
}

// mountDevProc gives the container a /dev of its own (the device nodes
// Docker creates, a devpts instance with its ptmx) and a /proc of its PID
// namespace.
func mountDevProc(root string) error {
	dev := filepath.Join(root, "dev")
	os.MkdirAll(dev, 0o755)
	if err := syscall.Mount("tmpfs", dev, "tmpfs", syscall.MS_NOSUID|syscall.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	for _, n := range []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}} {
		p := filepath.Join(dev, n.name)
		if err := syscall.Mknod(p, syscall.S_IFCHR|0o666, int(n.major<<8|n.minor)); err != nil {
			return fmt.Errorf("mknod %s: %w", p, err)
		}
		os.Chmod(p, 0o666)
	}
	pts := filepath.Join(dev, "pts")
	os.MkdirAll(pts, 0o755)
	if err := syscall.Mount("devpts", pts, "devpts", syscall.MS_NOSUID|syscall.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("mount /dev/pts: %w", err)
	}
	os.Symlink("pts/ptmx", filepath.Join(dev, "ptmx"))
	os.MkdirAll(filepath.Join(dev, "shm"), 0o1777)
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		os.Symlink(target, filepath.Join(dev, name))
	}
	proc := filepath.Join(root, "proc")
	os.MkdirAll(proc, 0o555)
	if err := syscall.Mount("proc", proc, "proc", syscall.MS_NOSUID|syscall.MS_NOEXEC|syscall.MS_NODEV, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	return nil
}

// dockerCaps are the capabilities Docker keeps by default (moby's
// oci/caps/defaults.go): CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID,
// SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD,
// AUDIT_WRITE, SETFCAP — CapEff 00000000a80425fb.
var dockerCaps = map[int]bool{0: true, 1: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, 10: true, 13: true, 18: true, 27: true, 29: true, 31: true}

const (
	prCapbsetDrop     = 24
	prSetSeccomp      = 22
	seccompModeFilter = 2
)

// dropBoundingSet keeps only Docker's capabilities: root's next exec gets
// exactly those.
func dropBoundingSet() error {
	last := 40
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		fmt.Sscan(string(b), &last)
	}
	for c := 0; c <= last; c++ {
		if dockerCaps[c] {
			continue
		}
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prCapbsetDrop, uintptr(c), 0); e != 0 {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, e)
		}
	}
	return nil
}

// Classic BPF, as seccomp reads it.
type sockFilter struct {
	code uint16
	jt   uint8
	jf   uint8
	k    uint32
}

type sockFprog struct {
	len    uint16
	filter *sockFilter
}

const (
	bpfLdWAbs = 0x20 // BPF_LD|BPF_W|BPF_ABS
	bpfJeqK   = 0x15 // BPF_JMP|BPF_JEQ|BPF_K
	bpfJsetK  = 0x45 // BPF_JMP|BPF_JSET|BPF_K
	bpfRetK   = 0x06 // BPF_RET|BPF_K

	retAllow = 0x7fff0000
	retErrno = 0x00050000

	auditArchX86_64 = 0xc000003e

	// x86_64 system call numbers.
	sysClone      = 56
	sysClone3     = 435
	sysUnshare    = 272
	sysSetns      = 308
	sysMount      = 165
	sysUmount2    = 166
	sysPivotRoot  = 155
	sysKeyctl     = 250
	sysAddKey     = 248
	sysRequestKey = 249
	sysFsopen     = 430
	sysFsmount    = 432
	sysOpenTree   = 428
	sysMoveMount  = 429

	// CLONE_NEW* flags: NS, CGROUP, UTS, IPC, USER, PID, NET.
	cloneNamespaces = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
)

// installSeccomp refuses, as Docker's default profile does without
// CAP_SYS_ADMIN: namespace creation and entry (EPERM), mounts, pivot_root
// and the keyring (EPERM), clone with a namespace flag (EPERM), clone3
// (ENOSYS, so libc falls back to clone).
func installSeccomp() error {
	if runtime.GOARCH != "amd64" {
		return fmt.Errorf("the seccomp filter is written for x86_64, not %s", runtime.GOARCH)
	}
	eperm := []uint32{sysUnshare, sysSetns, sysMount, sysUmount2, sysPivotRoot, sysKeyctl, sysAddKey, sysRequestKey, sysFsopen, sysFsmount, sysOpenTree, sysMoveMount}
	// Layout: arch check, nr load, one JEQ per refused call, clone3,
	// clone (then its flags), then the three returns.
	var p []sockFilter
	p = append(p, sockFilter{bpfLdWAbs, 0, 0, 4}) // seccomp_data.arch
	p = append(p, sockFilter{bpfJeqK, 1, 0, auditArchX86_64})
	p = append(p, sockFilter{bpfRetK, 0, 0, retErrno | uint32(syscall.EPERM)}) // another ABI: refuse
	p = append(p, sockFilter{bpfLdWAbs, 0, 0, 0})                              // seccomp_data.nr
	n := len(eperm)
	// After the JEQs: [clone3 JEQ][clone JEQ][load flags][JSET][ALLOW][EPERM][ENOSYS]
	for _, nr := range eperm {
		epermAt := 4 + n + 4 + 1
		p = append(p, sockFilter{bpfJeqK, uint8(epermAt - len(p) - 1), 0, nr})
	}
	allowAt := len(p) + 4
	epermAt, enosysAt := allowAt+1, allowAt+2
	pc := len(p)
	p = append(p, sockFilter{bpfJeqK, uint8(enosysAt - pc - 1), 0, sysClone3})
	pc = len(p)
	p = append(p, sockFilter{bpfJeqK, 0, uint8(allowAt - pc - 1), sysClone})
	p = append(p, sockFilter{bpfLdWAbs, 0, 0, 16}) // seccomp_data.args[0], low 32 bits (little endian)
	pc = len(p)
	p = append(p, sockFilter{bpfJsetK, uint8(epermAt - pc - 1), 0, cloneNamespaces})
	p = append(p, sockFilter{bpfRetK, 0, 0, retAllow})
	p = append(p, sockFilter{bpfRetK, 0, 0, retErrno | uint32(syscall.EPERM)})
	p = append(p, sockFilter{bpfRetK, 0, 0, retErrno | uint32(syscall.ENOSYS)})
	if len(p) != enosysAt+1 {
		return fmt.Errorf("seccomp program layout: %d instructions, want %d", len(p), enosysAt+1)
	}
	prog := sockFprog{len: uint16(len(p)), filter: &p[0]}
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetSeccomp, seccompModeFilter, uintptr(unsafe.Pointer(&prog))); e != 0 {
		return fmt.Errorf("install the seccomp filter: %w", e)
	}
	runtime.KeepAlive(p)
	return nil
}
