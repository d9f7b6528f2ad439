// Package password hashes and verifies account passwords with argon2id,
// storing them as PHC strings.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Length limits enforced by Validate, in bytes.
const (
	MinLength = 8
	MaxLength = 256
)

var (
	// ErrTooShort reports a password shorter than MinLength bytes.
	ErrTooShort = fmt.Errorf("password is too short: it must be at least %d bytes", MinLength)
	// ErrTooLong reports a password longer than MaxLength bytes.
	ErrTooLong = fmt.Errorf("password is too long: it must be at most %d bytes", MaxLength)
	// ErrMalformedHash reports an encoded hash that is not an argon2id PHC
	// string this package can verify (wrong shape, version or out-of-range
	// parameters).
	ErrMalformedHash = errors.New("password: malformed argon2id hash")
)

// Params are the argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // iterations
	Threads uint8  // parallelism
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams returns the OWASP-recommended argon2id parameters
// (m=19456 KiB, t=2, p=1) with a 16-byte salt and a 32-byte hash.
func DefaultParams() Params {
	return Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// CheapParams returns parameters that make hashing fast. They are for tests
// only: never use them for real passwords.
func CheapParams() Params {
	return Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Bounds on parameters read from an encoded hash, so a corrupted or hostile
// stored hash cannot make Verify allocate gigabytes or spin for minutes.
const (
	maxMemory  = 1 << 20 // KiB (1 GiB)
	maxTime    = 64
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 128
)

func (p Params) validate() error {
	if p.Threads == 0 || p.Time == 0 || p.Time > maxTime ||
		p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory ||
		p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen ||
		p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen {
		return fmt.Errorf("password: argon2id parameters out of range: %+v", p)
	}
	return nil
}

// Validate checks that pw is acceptable as a new password: between MinLength
// and MaxLength bytes. It returns ErrTooShort or ErrTooLong.
func Validate(pw string) error {
	switch {
	case len(pw) < MinLength:
		return ErrTooShort
	case len(pw) > MaxLength:
		return ErrTooLong
	}
	return nil
}

// Hash returns the argon2id PHC string of pw under DefaultParams:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded standard base64).
// It does not call Validate; callers check new passwords first.
func Hash(pw string) (string, error) {
	return HashWithParams(pw, DefaultParams())
}

// HashWithParams is Hash with explicit parameters.
func HashWithParams(pw string, p Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify reports whether pw matches encoded, a PHC string from Hash, using the
// parameters recorded in it and a constant-time comparison. A mismatch is
// (false, nil); an unparseable hash is (false, ErrMalformedHash).
func Verify(pw, encoded string) (bool, error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NeedsRehash reports whether encoded was made with parameters other than
// want (or cannot be parsed), so the caller can re-hash the password after a
// successful Verify.
func NeedsRehash(encoded string, want Params) bool {
	p, _, _, err := decode(encoded)
	return err != nil || p != want
}

func decode(encoded string) (Params, []byte, []byte, error) {
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformedHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return Params{}, nil, nil, fmt.Errorf("%w: unsupported version %q", ErrMalformedHash, parts[2])
	}
	var p Params
	if err := parseParams(parts[3], &p); err != nil {
		return Params{}, nil, nil, err
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: salt: %v", ErrMalformedHash, err)
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: hash: %v", ErrMalformedHash, err)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.validate(); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: %v", ErrMalformedHash, err)
	}
	return p, salt, key, nil
}

// parseParams reads "m=<KiB>,t=<iterations>,p=<threads>" in that order.
func parseParams(s string, p *Params) error {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return fmt.Errorf("%w: parameters %q", ErrMalformedHash, s)
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(fields[i], name+"=")
		if !ok {
			return fmt.Errorf("%w: parameters %q", ErrMalformedHash, s)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return fmt.Errorf("%w: parameter %s: %v", ErrMalformedHash, name, err)
		}
		vals[i] = n
	}
	if vals[2] > 255 {
		return fmt.Errorf("%w: parallelism %d", ErrMalformedHash, vals[2])
	}
	p.Memory, p.Time, p.Threads = uint32(vals[0]), uint32(vals[1]), uint8(vals[2])
	return nil
}
