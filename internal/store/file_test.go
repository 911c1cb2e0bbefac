package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFileCleanStaleAndNoLockFiles(t *testing.T) {
	root := filepath.Join(t.TempDir(), "cache")
	f, err := OpenFile(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.PutIf(ctx, "catalog/pkg.json", []byte("{}"), "application/json", ""); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "nar"), 0o755)
	old := time.Now().Add(-2 * time.Hour)
	for name, age := range map[string]time.Time{
		"nar/.tmp-x.nar.zst-123":    old,
		"catalog/.legacy.json.lock": old,
		"nar/.tmp-y.nar.zst-456":    time.Now(),
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		os.WriteFile(p, []byte("partial"), 0o644)
		os.Chtimes(p, age, age)
	}
	n, err := f.CleanStale(ctx, StaleAfter)
	if err != nil || n != 2 {
		t.Errorf("CleanStale removed %d, %v; want 2", n, err)
	}
	var left []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			left = append(left, filepath.ToSlash(rel))
		}
		return nil
	})
	want := "catalog/pkg.json nar/.tmp-y.nar.zst-456"
	if got := strings.Join(left, " "); got != want {
		t.Errorf("left %q, want %q (no lock file, the young temporary file kept)", got, want)
	}
}

func TestFileStat(t *testing.T) {
	f, err := OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("nar"), 100000)
	if _, err := f.PutWith(context.Background(), "nar/x.nar", bytes.NewReader(data), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	info, err := f.Stat(context.Background(), "nar/x.nar")
	sum := sha256.Sum256(data)
	if err != nil || info.Size != int64(len(data)) || !bytes.Equal(info.SHA256, sum[:]) {
		t.Errorf("Stat = %+v, %v; want size %d, sha256 %x", info, err, len(data), sum)
	}
}
