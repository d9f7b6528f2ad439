package secrets

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EnvVar names the environment variable that carries the master key.
const EnvVar = "BINDERY_MASTER_KEY"

// KeyFileName is the name of the master key file inside the data dir.
const KeyFileName = "master.key"

// LoadMasterKey returns the 32-byte master key.
//
// A non-empty envValue (the value of BINDERY_MASTER_KEY) is decoded as base64
// (standard or URL alphabet, padded or not) and must hold 32 bytes. An empty
// envValue reads <dataDir>/master.key (base64). When that file is absent, dev
// mode generates a random key and writes it with mode 0600 (creating dataDir
// with 0700); outside dev mode that is an error naming both the variable and
// the path.
func LoadMasterKey(envValue string, dataDir string, dev bool) ([]byte, error) {
	if v := strings.TrimSpace(envValue); v != "" {
		key, err := decodeKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvVar, err)
		}
		return key, nil
	}
	path := filepath.Join(dataDir, KeyFileName)
	text, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err := decodeKey(strings.TrimSpace(string(text)))
		if err != nil {
			return nil, fmt.Errorf("master key file %s: %w", path, err)
		}
		return key, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("master key file: %w", err)
	case !dev:
		return nil, fmt.Errorf("%s is not set and %s does not exist", EnvVar, path)
	}
	return generateKeyFile(dataDir, path)
}

// generateKeyFile writes a fresh key to a temporary file and links it into
// place, so the key file is never seen half-written and two processes
// starting at once agree on one key: the loser reads the winner's.
func generateKeyFile(dataDir, path string) ([]byte, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("master key: create data dir: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	f, err := os.CreateTemp(dataDir, ".master.key-*") // CreateTemp uses mode 0600
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return nil, fmt.Errorf("master key: write %s: %w", tmp, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadMasterKey("", dataDir, false)
		}
		// Some filesystems have no hard links: create the file exclusively.
		return writeExclusive(dataDir, path, key)
	}
	return key, nil
}

func writeExclusive(dataDir, path string, key []byte) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadMasterKey("", dataDir, false)
	}
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("master key: write %s: %w", path, err)
	}
	return key, nil
}

// decodeKey accepts base64 in either alphabet, with or without padding.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	key, err := enc.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not valid base64: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("must be base64 of %d bytes, got %d bytes", KeySize, len(key))
	}
	return key, nil
}

// ParseKey decodes a master key given as text (BINDERY_MASTER_KEY's
// format: base64 of 32 bytes, either alphabet, padded or not).
func ParseKey(s string) ([]byte, error) { return decodeKey(strings.TrimSpace(s)) }

// ReadKeyFile reads a master key from a file in master.key's format.
func ReadKeyFile(path string) ([]byte, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	key, err := ParseKey(string(text))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}

// NewKeyFile writes a fresh random master key to path with mode 0600, in
// master.key's format, and returns it. A path that exists is refused, so
// that a key in use is never overwritten.
func NewKeyFile(path string) ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("new key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("new key: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("new key: write %s: %w", path, err)
	}
	return key, nil
}
