package secrets

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewBoxKeyLength(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := NewBox(make([]byte, n)); err == nil {
			t.Errorf("NewBox(%d bytes): want error", n)
		}
	}
	if _, err := NewBox(make([]byte, 32)); err != nil {
		t.Errorf("NewBox(32 bytes): %v", err)
	}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	box, err := NewBox(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range [][]byte{{}, []byte("s3cret"), bytes.Repeat([]byte{0xff}, 4096)} {
		sealed, err := box.Seal(pt, "app-secret:demo")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(sealed, "v1:") {
			t.Fatalf("sealed %q lacks v1: prefix", sealed)
		}
		if len(pt) > 0 && strings.Contains(sealed, string(pt)) {
			t.Fatalf("sealed value contains plaintext")
		}
		got, err := box.Open(sealed, "app-secret:demo")
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("Open = %q, want %q", got, pt)
		}
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	t.Parallel()
	box, _ := NewBox(newKey(t))
	a, _ := box.Seal([]byte("x"), "")
	b, _ := box.Seal([]byte("x"), "")
	if a == b {
		t.Fatal("two seals of the same plaintext are equal")
	}
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	box, _ := NewBox(newKey(t))
	other, _ := NewBox(newKey(t))
	sealed, _ := box.Seal([]byte("hello"), "aad")
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(sealed, "v1:"))
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name   string
		box    *Box
		sealed string
		aad    string
		want   error
	}{
		{"wrong aad", box, sealed, "other", ErrTampered},
		{"wrong key", other, sealed, "aad", ErrTampered},
		{"flipped bit", box, "v1:" + base64.RawURLEncoding.EncodeToString(flipped), "aad", ErrTampered},
		{"no prefix", box, strings.TrimPrefix(sealed, "v1:"), "aad", ErrMalformed},
		{"v2 prefix", box, "v2:" + strings.TrimPrefix(sealed, "v1:"), "aad", ErrMalformed},
		{"bad base64", box, "v1:***", "aad", ErrMalformed},
		{"too short", box, "v1:" + base64.RawURLEncoding.EncodeToString(raw[:20]), "aad", ErrMalformed},
		{"empty", box, "", "aad", ErrMalformed},
	}
	for _, tt := range tests {
		if _, err := tt.box.Open(tt.sealed, tt.aad); !errors.Is(err, tt.want) {
			t.Errorf("%s: Open(%q, %q) err = %v, want %v", tt.name, tt.sealed, tt.aad, err, tt.want)
		}
	}
}

func TestLoadMasterKeyFromEnv(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		v := enc.EncodeToString(key)
		got, err := LoadMasterKey(v, t.TempDir(), false)
		if err != nil {
			t.Fatalf("LoadMasterKey(%q): %v", v, err)
		}
		if !bytes.Equal(got, key) {
			t.Fatalf("LoadMasterKey(%q) = %x, want %x", v, got, key)
		}
	}
	for _, v := range []string{base64.StdEncoding.EncodeToString(key[:16]), "not base64!", base64.StdEncoding.EncodeToString(append(key, 1))} {
		_, err := LoadMasterKey(v, t.TempDir(), true)
		if err == nil || !strings.Contains(err.Error(), "BINDERY_MASTER_KEY") {
			t.Errorf("LoadMasterKey(%q) err = %v, want one naming BINDERY_MASTER_KEY", v, err)
		}
	}
}

func TestLoadMasterKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := newKey(t)
	if err := os.WriteFile(filepath.Join(dir, "master.key"), []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadMasterKey("", dir, false)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("LoadMasterKey = %x, %v; want %x", got, err, key)
	}
}

func TestLoadMasterKeyMissingOutsideDev(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	_, err := LoadMasterKey("", dir, false)
	want := "BINDERY_MASTER_KEY is not set and " + filepath.Join(dir, "master.key") + " does not exist"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data dir was created outside dev mode")
	}
}

func TestLoadMasterKeyDevGenerates(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	key, err := LoadMasterKey("", dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != KeySize {
		t.Fatalf("key is %d bytes", len(key))
	}
	fi, err := os.Stat(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(dir)
	if di.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v, want 0700", di.Mode().Perm())
	}
	again, err := LoadMasterKey("", dir, false)
	if err != nil || !bytes.Equal(again, key) {
		t.Fatalf("reload = %x, %v; want %x", again, err, key)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only master.key", len(entries))
	}
}

func TestLoadMasterKeyDevConcurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 8
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = LoadMasterKey("", dir, true) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("replica %d got a different key", i)
		}
	}
}

// A Box with retired keys seals under its own key only and opens what any
// of them sealed; the retired box alone cannot open what the new one seals.
func TestWithRetired(t *testing.T) {
	t.Parallel()
	older, _ := NewBox(newKey(t))
	old, _ := NewBox(newKey(t))
	cur, _ := NewBox(newKey(t))
	both := cur.WithRetired(old.WithRetired(older))
	fromOlder, _ := older.Seal([]byte("a"), "x")
	fromOld, _ := old.Seal([]byte("b"), "x")
	for _, c := range []struct{ sealed, want string }{{fromOlder, "a"}, {fromOld, "b"}} {
		if got, err := both.Open(c.sealed, "x"); err != nil || string(got) != c.want {
			t.Fatalf("Open(%s) = %q, %v; want %q", c.sealed, got, err, c.want)
		}
		if _, err := both.Open(c.sealed, "y"); !errors.Is(err, ErrTampered) {
			t.Fatalf("Open with another aad: %v, want ErrTampered", err)
		}
	}
	fresh, _ := both.Seal([]byte("c"), "x")
	if got, err := cur.Open(fresh, "x"); err != nil || string(got) != "c" {
		t.Fatalf("the current key alone: %q, %v", got, err)
	}
	if _, err := old.Open(fresh, "x"); !errors.Is(err, ErrTampered) {
		t.Fatalf("the retired key opened a value sealed after the rotation: %v", err)
	}
}
