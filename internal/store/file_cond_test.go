package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

func newFileStore(t *testing.T) *File {
	t.Helper()
	f, err := OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFilePutIf(t *testing.T) {
	t.Parallel()
	const key = "catalog/acme/hello.json"
	tests := []struct {
		name string
		// setup leaves the store in a state; it returns the version the
		// writer read.
		setup   func(t *testing.T, f *File) string
		want    error
		content string // expected content afterwards
	}{
		{
			name:    "create when absent",
			setup:   func(t *testing.T, f *File) string { return "" },
			content: "new",
		},
		{
			name: "create when someone else created it first",
			setup: func(t *testing.T, f *File) string {
				mustPutIf(t, f, key, "theirs", "")
				return ""
			},
			want:    ErrConflict,
			content: "theirs",
		},
		{
			name: "replace the version that was read",
			setup: func(t *testing.T, f *File) string {
				mustPutIf(t, f, key, "old", "")
				_, v, err := f.GetVersion(context.Background(), key)
				if err != nil {
					t.Fatal(err)
				}
				return v
			},
			content: "new",
		},
		{
			name: "replace after someone else replaced it",
			setup: func(t *testing.T, f *File) string {
				mustPutIf(t, f, key, "old", "")
				_, v, _ := f.GetVersion(context.Background(), key)
				mustPutIf(t, f, key, "theirs", v)
				return v
			},
			want:    ErrConflict,
			content: "theirs",
		},
		{
			name: "replace after someone removed it",
			setup: func(t *testing.T, f *File) string {
				mustPutIf(t, f, key, "old", "")
				_, v, _ := f.GetVersion(context.Background(), key)
				if err := os.Remove(filepath.Join(f.Root(), key)); err != nil {
					t.Fatal(err)
				}
				return v
			},
			want: ErrConflict,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFileStore(t)
			v := tt.setup(t, f)
			err := f.PutIf(context.Background(), key, []byte("new"), "application/json", v)
			if !errors.Is(err, tt.want) {
				t.Fatalf("PutIf: got %v, want %v", err, tt.want)
			}
			data, _, err := f.GetVersion(context.Background(), key)
			if tt.content == "" {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("GetVersion: got %q, %v; want ErrNotFound", data, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != tt.content {
				t.Errorf("content %q, want %q", data, tt.content)
			}
		})
	}
}

func mustPutIf(t *testing.T, f *File, key, data, version string) {
	t.Helper()
	if err := f.PutIf(context.Background(), key, []byte(data), "text/plain", version); err != nil {
		t.Fatal(err)
	}
}

func TestFileGetVersion(t *testing.T) {
	t.Parallel()
	f := newFileStore(t)
	ctx := context.Background()
	if _, _, err := f.GetVersion(ctx, "absent.json"); !errors.Is(err, ErrNotFound) {
		t.Errorf("absent object: got %v, want ErrNotFound", err)
	}
	if _, _, err := f.GetVersion(ctx, "../escape"); err == nil {
		t.Error("a key outside the store was accepted")
	}
	mustPutIf(t, f, "a.json", "one", "")
	mustPutIf(t, f, "b.json", "one", "")
	mustPutIf(t, f, "c.json", "two", "")
	_, va, _ := f.GetVersion(ctx, "a.json")
	_, vb, _ := f.GetVersion(ctx, "b.json")
	_, vc, _ := f.GetVersion(ctx, "c.json")
	if va != vb || va == vc || va == "" {
		t.Errorf("versions a=%q b=%q c=%q: equal content must give equal versions, different content different ones", va, vb, vc)
	}
}

// TestFilePutIfConcurrent has many writers increment one counter by
// read-modify-write with retries: no increment may be lost, and a reader
// polling all the while must only ever see whole objects.
func TestFilePutIfConcurrent(t *testing.T) {
	t.Parallel()
	f := newFileStore(t)
	ctx := context.Background()
	const key = "counter"
	const writers = 16
	// Padding makes each write large enough that a torn one would show.
	pad := bytes.Repeat([]byte("x"), 256<<10)
	mustPutIf(t, f, key, "0\n"+string(pad), "")

	stop := make(chan struct{})
	readerDone := make(chan error)
	go func() {
		for {
			select {
			case <-stop:
				readerDone <- nil
				return
			default:
			}
			data, _, err := f.GetVersion(ctx, key)
			if err != nil {
				readerDone <- err
				return
			}
			if len(data) < len(pad) || !bytes.HasSuffix(data, pad) {
				readerDone <- fmt.Errorf("a reader saw a partial object of %d bytes", len(data))
				return
			}
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				data, v, err := f.GetVersion(ctx, key)
				if err != nil {
					errs <- err
					return
				}
				n, err := strconv.Atoi(string(bytes.SplitN(data, []byte("\n"), 2)[0]))
				if err != nil {
					errs <- err
					return
				}
				next := strconv.Itoa(n+1) + "\n" + string(pad)
				err = f.PutIf(ctx, key, []byte(next), "text/plain", v)
				if errors.Is(err, ErrConflict) {
					continue
				}
				errs <- err
				return
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-readerDone; err != nil {
		t.Error(err)
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	data, _, _ := f.GetVersion(ctx, key)
	if got := string(bytes.SplitN(data, []byte("\n"), 2)[0]); got != strconv.Itoa(writers) {
		t.Errorf("counter is %s after %d increments", got, writers)
	}
	// Temporary files must not be left behind.
	entries, _ := os.ReadDir(f.Root())
	for _, e := range entries {
		if e.Name() != key && e.Name() != "."+key+".lock" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// TestFilePutIfCancelled checks that a writer waiting for the lock gives
// up when its context ends instead of hanging the run.
func TestFilePutIfCancelled(t *testing.T) {
	t.Parallel()
	f := newFileStore(t)
	unlock, err := lockDir(context.Background(), f.Root())
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = f.PutIf(ctx, "k", []byte("x"), "text/plain", "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PutIf while locked: got %v, want a deadline error", err)
	}
	if ok, _ := f.Exists(context.Background(), "k"); ok {
		t.Error("the object was written without the lock")
	}
}
