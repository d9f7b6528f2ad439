package password

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestHashFormat(t *testing.T) {
	t.Parallel()
	enc, err := Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(enc) {
		t.Fatalf("Hash = %q, want OWASP PHC string", enc)
	}
	ok, err := Verify("correct horse battery staple", enc)
	if err != nil || !ok {
		t.Fatalf("Verify(right) = %v, %v", ok, err)
	}
	if NeedsRehash(enc, DefaultParams()) {
		t.Error("NeedsRehash(default hash, default params) = true")
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	enc, err := HashWithParams("s3cret-password", CheapParams())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := HashWithParams("s3cret-password", CheapParams())
	if enc == other {
		t.Fatal("two hashes of one password are equal (salt not random)")
	}
	tests := []struct {
		pw   string
		want bool
	}{
		{"s3cret-password", true},
		{"s3cret-passworD", false},
		{"s3cret-password ", false},
		{"", false},
	}
	for _, tt := range tests {
		got, err := Verify(tt.pw, enc)
		if err != nil || got != tt.want {
			t.Errorf("Verify(%q) = %v, %v; want %v", tt.pw, got, err, tt.want)
		}
	}
	if !NeedsRehash(enc, DefaultParams()) {
		t.Error("NeedsRehash(cheap hash, default params) = false")
	}
}

// A known vector: parameters come from the string, not from DefaultParams.
func TestVerifyParsesParams(t *testing.T) {
	t.Parallel()
	enc, err := HashWithParams("pw-pw-pw-pw", Params{Memory: 128, Time: 3, Threads: 2, SaltLen: 8, KeyLen: 16})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=128,t=3,p=2$") {
		t.Fatalf("Hash = %q", enc)
	}
	if ok, err := Verify("pw-pw-pw-pw", enc); !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	good, _ := HashWithParams("password1", CheapParams())
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	for _, enc := range []string{
		"",
		"password1",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		with(1, "argon2i"),
		with(2, "v=16"),
		with(3, "m=64,t=1"),
		with(3, "t=1,m=64,p=1"),
		with(3, "m=64,t=0,p=1"),
		with(3, "m=64,t=1,p=0"),
		with(3, "m=4,t=1,p=1"),
		with(3, "m=99999999,t=1,p=1"),
		with(3, "m=64,t=1000,p=1"),
		with(3, "m=64,t=1,p=300"),
		with(3, "m=-1,t=1,p=1"),
		with(4, "!!"),
		with(4, "c2FsdA"), // 4-byte salt
		with(5, "aGFzaA"), // 4-byte hash
		good + "$extra",
	} {
		ok, err := Verify("password1", enc)
		if ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("Verify(%q) = %v, %v; want ErrMalformedHash", enc, ok, err)
		}
	}
}

func TestHashWithParamsRejectsBadParams(t *testing.T) {
	t.Parallel()
	for _, p := range []Params{{}, {Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}, {Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8}} {
		if _, err := HashWithParams("password1", p); err == nil {
			t.Errorf("HashWithParams(%+v): want error", p)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pw   string
		want error
	}{
		{"", ErrTooShort},
		{"1234567", ErrTooShort},
		{"12345678", nil},
		{strings.Repeat("a", 256), nil},
		{strings.Repeat("a", 257), ErrTooLong},
	}
	for _, tt := range tests {
		if err := Validate(tt.pw); !errors.Is(err, tt.want) {
			t.Errorf("Validate(%d bytes) = %v, want %v", len(tt.pw), err, tt.want)
		}
	}
	if !strings.Contains(ErrTooShort.Error(), "8") || !strings.Contains(ErrTooLong.Error(), "256") {
		t.Errorf("messages do not state the limits: %q, %q", ErrTooShort, ErrTooLong)
	}
}
