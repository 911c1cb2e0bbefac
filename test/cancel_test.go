package test

// Tests of the built binary under signals (issue 12): SIGTERM at every
// stage ends the run in time with one line and the job summary, and leaves
// no scratch directory and no process behind; SIGKILL at points spread
// over a publish never leaves a narinfo visible without its complete NAR
// and its references' narinfos, and a re-run completes.
//
// Signals are placed by the progress lines the action prints: the log
// groups (::group::Build …), the per-path `uploaded …` and per-package
// `recorded …` lines, with fixed delays, so every run is the same.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/nix-community/go-nix/pkg/narinfo"

	"github.com/flox-publish/publish-action/internal/testenv"
	"github.com/flox-publish/publish-action/internal/testenv/fixture"
)

// cancelLimit is the bound from the signal to the exit.
const cancelLimit = 10 * time.Second

// signalAt places a signal: after the first line (counting from 1, the
// nth) for which match is true, wait delay, then send sig.
type signalAt struct {
	match func(line string) bool
	nth   int
	delay time.Duration
	sig   syscall.Signal
	// then, when set, is a second signal, sent thenAfter the first.
	then      syscall.Signal
	thenAfter time.Duration
}

func prefix(p string) func(string) bool {
	return func(line string) bool { return strings.HasPrefix(line, p) }
}

// binaryRun is what one run of the binary did.
type binaryRun struct {
	code      int
	log       string
	signalled bool
	toExit    time.Duration // from the signal to the exit
	timedOut  bool          // killed by the test: it did not exit in time
}

// runBinary runs bin with env, signalling it as at says (nil: never),
// and waits for it to exit: within cancelLimit of the signal, else it is
// killed and the run marked timedOut.
func runBinary(t *testing.T, bin, dir string, env []string, at *signalAt) binaryRun {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd := exec.Command(bin)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()

	var (
		mu       sync.Mutex
		log      strings.Builder
		sentAt   time.Time
		signaled = make(chan struct{})
		readDone = make(chan struct{})
	)
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		seen := 0
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			log.WriteString(line + "\n")
			mu.Unlock()
			if at == nil || seen >= at.nth || !at.match(line) {
				continue
			}
			if seen++; seen == at.nth {
				go func() {
					time.Sleep(at.delay)
					mu.Lock()
					sentAt = time.Now()
					mu.Unlock()
					cmd.Process.Signal(at.sig)
					close(signaled)
					if at.then != 0 {
						time.Sleep(at.thenAfter)
						cmd.Process.Signal(at.then)
					}
				}()
			}
		}
	}()

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var res binaryRun
	var werr error
	select {
	case werr = <-exited:
	case <-signaled:
		select {
		case werr = <-exited:
		case <-time.After(cancelLimit + 5*time.Second):
			res.timedOut = true
			cmd.Process.Kill()
			werr = <-exited
		}
	case <-time.After(2 * time.Minute):
		res.timedOut = true
		cmd.Process.Kill()
		werr = <-exited
	}
	end := time.Now()
	// A child that outlived the binary may hold the pipe: read for a
	// moment, not forever.
	pr.SetReadDeadline(time.Now().Add(time.Second))
	<-readDone

	mu.Lock()
	defer mu.Unlock()
	res.log = log.String()
	if !sentAt.IsZero() {
		res.signalled = true
		res.toExit = end.Sub(sentAt)
	}
	if ee, ok := werr.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.code = 128 + int(ws.Signal())
		}
	} else if werr != nil {
		t.Fatalf("wait for %s: %v", bin, werr)
	}
	return res
}

// holdProxy is a reverse proxy in front of MinIO that holds open, never
// answering, every request hold matches, until the client gives up: a
// server that stops answering mid-run. (The store work adds a fuller
// fault-injecting proxy to testenv; this one only holds.)
type holdProxy struct {
	*httptest.Server
	mu   sync.Mutex
	hold func(*http.Request) bool
	held int
}

func newHoldProxy(t *testing.T, target string) *holdProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	release := make(chan struct{})
	p := &holdProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		hold := p.hold != nil && p.hold(r)
		if hold {
			p.held++
		}
		p.mu.Unlock()
		if hold {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { close(release); p.Close() })
	return p
}

func (p *holdProxy) setHold(f func(*http.Request) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold, p.held = f, 0
}

// cancelManifest has two quick builds, greeter and motd, and optionally a
// third, slow, whose version command or build command ignores SIGTERM and
// starts a child that ignores it too, writing the child's pid to pidFile.
func cancelManifest(slowVersion, slowBuild, bigBuild bool, pidFile string) string {
	m := `schema-version = "1.14.0"

[install]
hello.pkg-path = "hello"

[build.greeter]
version = "1.0.0"
command = '''
  mkdir -p $out/bin
  printf '#!/bin/sh\necho hello\n' > $out/bin/greeter
  chmod +x $out/bin/greeter
'''

[build.motd]
version = "1.0.0"
command = '''
  mkdir -p $out/share
  head -c 6000000 /dev/urandom | base64 > $out/share/motd
'''
`
	ignore := `trap '' TERM; sleep 1000 & echo $! >> ` + pidFile + `; wait`
	if bigBuild {
		// A NAR of 64 MB of text takes a good part of a second to
		// compress and write: a signal sent as the upload starts lands
		// while it is in flight, however loaded the machine.
		m += "\n[build.big]\nversion = \"1.0.0\"\ncommand = '''\n  mkdir -p $out/share\n  head -c 48000000 /dev/urandom | base64 > $out/share/big\n'''\n"
	}
	switch {
	case slowVersion:
		m += "\n[build.slow]\nversion.command = '''" + ignore + "; echo 1.0.0'''\ncommand = 'mkdir -p $out'\n"
	case slowBuild:
		m += "\n[build.slow]\nversion = \"1.0.0\"\ncommand = '''" + ignore + "'''\n"
	}
	return m
}

// pidsAlive are the pids in file that still run, once those being
// killed have had a second to go. A zombie (killed, not yet reaped) does
// not run.
func pidsAlive(t *testing.T, file string) []int {
	data, _ := os.ReadFile(file)
	var alive []int
	for deadline := time.Now().Add(time.Second); ; time.Sleep(20 * time.Millisecond) {
		alive = alive[:0]
		for _, f := range strings.Fields(string(data)) {
			stat, err := os.ReadFile("/proc/" + f + "/stat")
			if err != nil {
				continue
			}
			// pid (comm) state …: the state follows the last ')'.
			if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z' {
				pid, _ := strconv.Atoi(f)
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
	}
}

// dirEntries names what dir holds.
func dirEntries(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// cancelCase is one SIGTERM (or SIGINT) case.
type cancelCase struct {
	name  string
	minio bool // the store is MinIO behind a holdProxy, else file://
	// hold, when set, makes the proxy hold these requests open.
	hold        func(*http.Request) bool
	heldGitHub  bool // GitHub's API holds the commit check open
	slowVersion bool
	slowBuild   bool
	bigBuild    bool // a build whose NAR takes long to upload
	at          signalAt
	stage       string // the stage the line must name
	// published, when set, is what the line must say was published.
	published string
}

// cancelStats is one row of the report's table.
type cancelStats struct {
	runs, completed, clearFailures, violations, leftovers int
	maxToExit                                             time.Duration
}

func (s cancelStats) String() string {
	return fmt.Sprintf("runs %d, completed %d, failed with a clear error %d, invariant violations %d, leftovers %d, max signal→exit %s",
		s.runs, s.completed, s.clearFailures, s.violations, s.leftovers, s.maxToExit.Round(10*time.Millisecond))
}

func TestSignalEndsTheRunAtEveryStage(t *testing.T) {
	testenv.Slow(t)
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "bash")
	bin := buildBinary(t)
	secret, _ := fixture.NewSecretKey(t)
	m := testenv.StartMinIO(t, testenv.MinIOOptions{})
	proxy := newHoldProxy(t, m.Endpoint)

	// GitHub's API that holds the commit check open.
	heldAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer heldAPI.Close()

	narPut := func(r *http.Request) bool { return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/nar/") }
	catalogOf := func(pkg string) func(*http.Request) bool {
		return func(r *http.Request) bool {
			return strings.Contains(r.URL.Path, "/catalog/") && strings.Contains(r.URL.Path, pkg)
		}
	}
	term := syscall.SIGTERM
	cases := []cancelCase{
		{name: "verify, GitHub holds the commit check", heldGitHub: true, stage: "verify",
			at: signalAt{match: prefix("::group::Check the commit"), nth: 1, delay: 300 * time.Millisecond, sig: term}},
		{name: "clone", stage: "build", slowVersion: true,
			at: signalAt{match: prefix("::group::Clone the commit"), nth: 1, sig: term}},
		{name: "version command ignores SIGTERM", slowVersion: true, stage: "build",
			at: signalAt{match: prefix("::group::Clone the commit"), nth: 1, delay: 500 * time.Millisecond, sig: term}},
		{name: "build ignores SIGTERM", slowBuild: true, stage: "build",
			at: signalAt{match: prefix("::group::Build slow"), nth: 1, delay: 300 * time.Millisecond, sig: term}},
		{name: "build ignores SIGINT", slowBuild: true, stage: "build",
			at: signalAt{match: prefix("::group::Build slow"), nth: 1, delay: 300 * time.Millisecond, sig: syscall.SIGINT}},
		// The runner's sequence, hurried: a second signal ends the run
		// at once, without waiting for the build to go.
		{name: "build ignores SIGINT, then SIGTERM", slowBuild: true, stage: "build",
			at: signalAt{match: prefix("::group::Build slow"), nth: 1, delay: 300 * time.Millisecond, sig: syscall.SIGINT, then: term, thenAfter: 200 * time.Millisecond}},
		{name: "upload, file://, a large NAR in flight", stage: "upload", bigBuild: true,
			at: signalAt{match: prefix("::group::Sign and upload"), nth: 1, delay: 100 * time.Millisecond, sig: term}},
		{name: "upload, MinIO holds the NAR uploads", minio: true, hold: narPut, stage: "upload",
			at: signalAt{match: prefix("::group::Sign and upload"), nth: 1, delay: 500 * time.Millisecond, sig: term}},
		{name: "record, MinIO holds the catalog", minio: true, hold: catalogOf("/"), stage: "catalog",
			at:        signalAt{match: prefix("::group::Record in the catalog"), nth: 1, delay: 300 * time.Millisecond, sig: term},
			published: "uploaded, nothing published"},
		{name: "record, one package recorded, MinIO holds the other", minio: true, hold: catalogOf("/motd"), stage: "catalog",
			at:        signalAt{match: prefix("recorded "), nth: 1, delay: 300 * time.Millisecond, sig: term},
			published: "published greeter; not published: motd"},
	}
	var stats cancelStats
	storeLeft := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// TMPDIR as on a runner: every user can reach it, the
			// build user included.
			base := testenv.OpenTempDir(t)
			tmp := filepath.Join(base, "tmp")
			os.Mkdir(tmp, 0o755)
			pidFile := filepath.Join(testenv.OpenTempDir(t), "pids")
			t.Cleanup(func() {
				for _, pid := range pidsAlive(t, pidFile) {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			r := fixture.NewRepo(t, cancelManifest(tc.slowVersion, tc.slowBuild, tc.bigBuild, pidFile))
			a := fixture.NewActionsEnv(t, r, "push", "refs/heads/main")
			a["INPUT_SIGNING-KEY"] = secret
			a["INPUT_CATALOG"] = "acme"
			a["TMPDIR"] = tmp
			a["HOME"] = base
			if tc.heldGitHub {
				a["INPUT_GITHUB-TOKEN"] = "ghs_heldTokenForTheTest0123456789"
				a["GITHUB_API_URL"] = heldAPI.URL
			}
			if tc.minio {
				bucket := m.CreateBucket(t)
				a["INPUT_STORE-URL"] = "s3://" + bucket + "?region=us-east-1&endpoint=" + proxy.URL
				a["AWS_ACCESS_KEY_ID"], a["AWS_SECRET_ACCESS_KEY"] = m.RootUser, m.RootPassword
				proxy.setHold(tc.hold)
			} else {
				a["INPUT_STORE-URL"] = "file://" + filepath.Join(base, "cache")
			}
			at := tc.at
			res := runBinary(t, bin, r.Work, a.Environ(), &at)
			stats.runs++
			if res.toExit > stats.maxToExit {
				stats.maxToExit = res.toExit
			}
			t.Logf("signal → exit %s, exit %d", res.toExit.Round(time.Millisecond), res.code)
			defer func() {
				if t.Failed() {
					t.Logf("log:\n%s", res.log)
				}
			}()
			switch {
			case !res.signalled:
				t.Fatalf("the run ended (exit %d) before the signal's line was printed", res.code)
			case res.timedOut || res.toExit > cancelLimit:
				stats.violations++
				t.Fatalf("the run did not exit within %s of the signal (%s)", cancelLimit, res.toExit)
			case res.code == 0:
				stats.completed++
				t.Fatalf("exit 0 after the signal")
			}
			if want := 128 + int(at.sig); res.code != want {
				t.Errorf("exit %d, want %d (128 + the signal)", res.code, want)
			}
			var cancelled, errs []string
			for _, line := range strings.Split(res.log, "\n") {
				if strings.Contains(line, "Cancelled") {
					cancelled = append(cancelled, line)
				}
				if strings.HasPrefix(line, "::error") {
					errs = append(errs, line)
				}
			}
			sigName := map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT"}[at.sig]
			wantLine := "::error::Cancelled by " + sigName + " during the " + tc.stage + " stage: "
			if len(cancelled) != 1 || len(errs) != 1 || !strings.HasPrefix(cancelled[0], wantLine) {
				t.Errorf("want one line starting %q and no other error, got %q (errors %q)", wantLine, cancelled, errs)
			} else {
				stats.clearFailures++
				t.Logf("%s", cancelled[0])
			}
			if tc.published != "" && (len(cancelled) == 0 || !strings.Contains(cancelled[0], tc.published)) {
				t.Errorf("the line does not say %q: %q", tc.published, cancelled)
			}
			summary, _ := os.ReadFile(a["GITHUB_STEP_SUMMARY"])
			if !strings.HasPrefix(string(summary), "### Cancelled by "+sigName+" during the "+tc.stage+" stage") ||
				!strings.Contains(string(summary), "Re-run the job") {
				t.Errorf("the job summary is not a cancelled run's:\n%s", summary)
			}
			var view storeView = fileView(filepath.Join(base, "cache"))
			if tc.minio {
				view = s3View{m.Client(), strings.TrimPrefix(strings.Split(a["INPUT_STORE-URL"], "?")[0], "s3://")}
			}
			if n := checkInvariant(t, view.objects(t)); n > 0 {
				stats.violations += n
			}
			if sl := view.leftovers(t); len(sl) > 0 {
				storeLeft += len(sl)
				t.Logf("left in the store (the store's cleanup at the next run's start is the store work's): %v", sl)
			}
			left := dirEntries(tmp)
			alive := pidsAlive(t, pidFile)
			if len(left) > 0 || len(alive) > 0 {
				stats.leftovers += len(left) + len(alive)
				find, _ := exec.Command("find", tmp).CombinedOutput()
				t.Errorf("left behind: %v in TMPDIR, processes %v:\n%s", left, alive, find)
			}
		})
	}
	t.Logf("SIGTERM/SIGINT at every stage: %s; left in stores: %d", stats, storeLeft)
}

// object is one object of a store, and a stamp that changes when it is
// written again (inode and modification time; S3's LastModified).
type object struct {
	data  []byte
	stamp string
}

// storeView reads a binary cache as a client would: every object by key.
type storeView interface {
	objects(t *testing.T) map[string]object
	// leftovers are what a run leaves that nobody reads: temporary files,
	// open multipart uploads.
	leftovers(t *testing.T) []string
}

type fileView string

func (d fileView) objects(t *testing.T) map[string]object {
	objs := map[string]object{}
	filepath.WalkDir(string(d), func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(string(d), p)
		data, err := os.ReadFile(p)
		fi, serr := os.Stat(p)
		if err == nil && serr == nil {
			stamp := fi.ModTime().String()
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				stamp += fmt.Sprintf(" inode %d", st.Ino)
			}
			objs[filepath.ToSlash(rel)] = object{data, stamp}
		}
		return nil
	})
	return objs
}

func (d fileView) leftovers(t *testing.T) []string {
	var left []string
	for k := range d.objects(t) {
		if strings.Contains(filepath.Base(k), ".tmp-") {
			left = append(left, k)
		}
	}
	return left
}

type s3View struct {
	client *s3.Client
	bucket string
}

func (v s3View) objects(t *testing.T) map[string]object {
	ctx := context.Background()
	objs := map[string]object{}
	p := s3.NewListObjectsV2Paginator(v.client, &s3.ListObjectsV2Input{Bucket: &v.bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			out, err := v.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &v.bucket, Key: o.Key})
			var gone *types.NoSuchKey
			if errors.As(err, &gone) {
				continue // removed since the listing: a stale temporary object cleaned up
			}
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			objs[*o.Key] = object{data, o.LastModified.String() + " " + aws.ToString(o.ETag)}
		}
	}
	return objs
}

func (v s3View) leftovers(t *testing.T) []string {
	out, err := v.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &v.bucket})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, u := range out.Uploads {
		left = append(left, "multipart upload of "+*u.Key)
	}
	return left
}

// checkInvariant checks the cache's promise to its readers: every narinfo
// names a complete NAR (its size and hash are the narinfo's) and each of
// its references has a narinfo too. It returns the number of violations.
func checkInvariant(t *testing.T, objs map[string]object) int {
	t.Helper()
	byHash := map[string]bool{}
	for k := range objs {
		if h, ok := strings.CutSuffix(k, ".narinfo"); ok && !strings.Contains(h, "/") {
			byHash[h] = true
		}
	}
	bad := 0
	for h := range byHash {
		ni, err := narinfo.Parse(bytes.NewReader(objs[h+".narinfo"].data))
		if err != nil {
			t.Errorf("%s.narinfo: %v", h, err)
			bad++
			continue
		}
		obj, ok := objs[ni.URL]
		nar := obj.data
		sum := sha256.Sum256(nar)
		switch {
		case !ok:
			t.Errorf("%s.narinfo names %s, which is not there", h, ni.URL)
			bad++
		case uint64(len(nar)) != ni.FileSize:
			t.Errorf("%s.narinfo: %s has %d bytes, the narinfo says %d", h, ni.URL, len(nar), ni.FileSize)
			bad++
		case ni.FileHash == nil || !bytes.Equal(sum[:], ni.FileHash.Digest()):
			t.Errorf("%s.narinfo: %s does not have the narinfo's FileHash", h, ni.URL)
			bad++
		}
		for _, ref := range ni.References {
			rh, _, _ := strings.Cut(ref, "-")
			if !byHash[rh] {
				t.Errorf("%s.narinfo refers to %s, which has no narinfo", h, ref)
				bad++
			}
		}
	}
	return bad
}

// reuploadedComplete counts the NAR objects that the store held complete
// before the re-run (their size and hash are those a narinfo names
// afterwards) and that the re-run wrote again (their stamp changed).
func reuploadedComplete(before, after map[string]object) int {
	counted := map[string]bool{}
	for k, a := range after {
		if !strings.HasSuffix(k, ".narinfo") || strings.Contains(k, "/") {
			continue
		}
		ni, err := narinfo.Parse(bytes.NewReader(a.data))
		if err != nil || ni.FileHash == nil {
			continue
		}
		old, had := before[ni.URL]
		now := after[ni.URL]
		sum := sha256.Sum256(old.data)
		if had && uint64(len(old.data)) == ni.FileSize && bytes.Equal(sum[:], ni.FileHash.Digest()) && old.stamp != now.stamp {
			counted[ni.URL] = true
		}
	}
	return len(counted)
}

// killManifest has three builds; the stand-in makes each refer to a
// library's app (a closure of five paths, with references two deep), and
// big writes 4 MB, so that kills land inside a NAR's upload too.
const killManifest = `schema-version = "1.14.0"

[install]
hello.pkg-path = "hello"

[build.alpha]
version = "1.0.0"
command = 'mkdir -p $out/share && echo alpha > $out/share/alpha'

[build.big]
version = "1.0.0"
command = 'mkdir -p $out/share && head -c 4000000 /dev/urandom > $out/share/blob'

[build.gamma]
version = "1.0.0"
command = 'mkdir -p $out/share && echo gamma > $out/share/gamma'
`

// killCase is one SIGKILL point.
type killCase struct {
	minio bool
	at    signalAt
}

func (k killCase) String() string {
	store := "file://"
	if k.minio {
		store = "MinIO"
	}
	return fmt.Sprintf("%s, %d ms after line %d matching the kill point", store, k.at.delay.Milliseconds(), k.at.nth)
}

func TestKilledPublishLeavesAValidCacheAndARerunCompletes(t *testing.T) {
	testenv.Slow(t)
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "nix-build")
	bin := buildBinary(t)
	path := testenv.FloxStandInPATH(t)
	top, _ := testenv.NixClosure(t, "killsuite", "")
	nixEnv := testenv.NixEnv(t)
	secret, _ := fixture.NewSecretKey(t)
	m := testenv.StartMinIO(t, testenv.MinIOOptions{})

	kill := syscall.SIGKILL
	at := func(p string, nth int, delay time.Duration) signalAt {
		return signalAt{match: prefix(p), nth: nth, delay: delay * time.Millisecond, sig: kill}
	}
	// Fixed points, spread over every stage and inside the uploads.
	cases := []killCase{
		{at: at("::group::Clone the commit", 1, 0)},
		{at: at("::group::Build big", 1, 100)},
		{at: at("::group::Sign and upload", 1, 0)},
		{at: at("uploaded ", 1, 0)},
		{at: at("uploaded ", 1, 3)},
		{at: at("uploaded ", 3, 0)},
		{at: at("::group::Record in the catalog", 1, 0)},
		{at: at("recorded ", 1, 0)},
		{minio: true, at: at("::group::Sign and upload", 1, 20)},
		{minio: true, at: at("uploaded ", 1, 5)},
		{minio: true, at: at("uploaded ", 2, 0)},
		{minio: true, at: at("recorded ", 2, 0)},
	}
	var stats cancelStats
	var reuploads, scratchLeft, storeLeft, orphans int
	for i, kc := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Log(kc)
			// TMPDIR as on a runner: every user can reach it, the
			// build user included.
			base := testenv.OpenTempDir(t)
			tmp := filepath.Join(base, "tmp")
			os.Mkdir(tmp, 0o755)
			r := fixture.NewRepo(t, killManifest)
			a := fixture.NewActionsEnv(t, r, "push", "refs/heads/main")
			a["INPUT_SIGNING-KEY"] = secret
			a["INPUT_CATALOG"] = "acme"
			a["INPUT_BUILDER"] = "flox"
			a["TMPDIR"] = tmp
			a["HOME"] = base
			a["FLOX_STANDIN_REFERENCE"] = top
			for _, kv := range nixEnv {
				if k, v, _ := strings.Cut(kv, "="); k == "NIX_CONFIG" || k == "XDG_CACHE_HOME" {
					a[k] = v
				}
			}
			var view storeView
			if kc.minio {
				bucket := m.CreateBucket(t)
				a["INPUT_STORE-URL"] = "s3://" + bucket + "?region=us-east-1&endpoint=" + m.Endpoint
				a["AWS_ACCESS_KEY_ID"], a["AWS_SECRET_ACCESS_KEY"] = m.RootUser, m.RootPassword
				view = s3View{m.Client(), bucket}
			} else {
				cache := filepath.Join(base, "cache")
				a["INPUT_STORE-URL"] = "file://" + cache
				view = fileView(cache)
			}
			env := append(a.Environ(), "PATH="+path) // the last PATH wins

			point := kc.at
			killed := runBinary(t, bin, r.Work, env, &point)
			stats.runs++
			if killed.code == 0 {
				stats.completed++
				t.Logf("the run completed before the kill")
			}
			before := view.objects(t)
			if n := checkInvariant(t, before); n > 0 {
				stats.violations += n
				t.Errorf("after the kill: %d invariant violations\n%s", n, killed.log)
			}
			scratch := dirEntries(tmp)
			// A SIGKILL of the binary alone leaves a running build
			// orphaned (it runs in a process group of its own); the
			// runner's tree kill would end it. End it, and count it.
			if o := killOrphansIn(tmp); len(o) > 0 {
				orphans += len(o)
				t.Logf("the kill left %d build processes running in the scratch directory (ended by the test): %v", len(o), o)
			}

			rerun := runBinary(t, bin, r.Work, env, nil)
			stats.runs++
			if rerun.code != 0 {
				t.Fatalf("the re-run failed: exit %d\n%s", rerun.code, rerun.log)
			}
			stats.completed++
			after := view.objects(t)
			if n := checkInvariant(t, after); n > 0 {
				stats.violations += n
				t.Errorf("after the re-run: %d invariant violations", n)
			}
			again := reuploadedComplete(before, after)
			reuploads += again
			if again > 0 {
				t.Errorf("the re-run uploaded %d NARs the killed run had written completely", again)
			}
			left := view.leftovers(t)
			// The re-run removes the killed run's scratch directory:
			// nobody holds its lock any more.
			for _, e := range dirEntries(tmp) {
				if _, err := os.Stat(filepath.Join(tmp, e, ".lock")); strings.HasPrefix(e, ".new-") && err != nil {
					// Killed between making and locking it: a run sweeps
					// it once it is a minute old.
					t.Logf("TMPDIR holds %s, an unlocked staging directory", e)
					continue
				}
				stats.leftovers++
				t.Errorf("after the re-run, TMPDIR holds %s", e)
			}
			scratchLeft += len(scratch)
			storeLeft += len(left)
			t.Logf("killed run: exit %d; store after the kill: %d objects; re-run: %d NARs re-uploaded complete; left by the kill: %v in TMPDIR (removed by the re-run), in the store after the re-run %v",
				killed.code, len(before), again, scratch, left)
		})
	}
	t.Logf("SIGKILL at %d points: %s; complete NARs re-uploaded by re-runs: %d; left by kills: %d scratch directories in TMPDIR (all removed by the re-runs), %d build processes orphaned, %d in stores after the re-runs (temporary files, open multipart uploads: the store work's)",
		len(cases), stats, reuploads, scratchLeft, orphans, storeLeft)
}

// killOrphansIn kills the processes whose working directory is under dir
// and returns their pids.
func killOrphansIn(dir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd")
		if err == nil && (cwd == dir || strings.HasPrefix(cwd, dir+"/")) {
			syscall.Kill(pid, syscall.SIGKILL)
			pids = append(pids, pid)
		}
	}
	return pids
}
