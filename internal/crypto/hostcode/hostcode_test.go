package hostcode

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	testSecret = []byte("host-secret")
	testNow    = time.Unix(1700000000, 0).UTC()
)

// signed builds a code around an arbitrary payload, for claims Mint cannot express.
func signed(secret []byte, payload string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// A vector computed outside Go (Python's hmac), for host-app implementers.
func TestVerifyKnownVector(t *testing.T) {
	t.Parallel()
	const code = "eyJ1aWQiOiJ1LTQyIiwiZXhwIjoxNzAwMDAwMzAwLCJub25jZSI6Im4wbmNlLWFiYyJ9.RIuw-MTv_MbRjtto0bi7V-3NUrlqa02e8IA2z5RR0Zg"
	got, err := Verify(testSecret, code, testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{UID: "u-42", Exp: time.Unix(1700000300, 0).UTC(), Nonce: "n0nce-abc"}
	if got != want {
		t.Fatalf("Verify = %+v, want %+v", got, want)
	}
	if m := Mint(testSecret, "u-42", want.Exp, "n0nce-abc"); m != code {
		t.Fatalf("Mint = %q, want %q", m, code)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	exp := testNow.Add(2 * time.Minute)
	good := Mint(testSecret, "user-1", exp, "nonce-123")
	payload, sig, _ := strings.Cut(good, ".")
	tests := []struct {
		name string
		code string
		now  time.Time
		want error
	}{
		{"valid", good, testNow, nil},
		{"valid unknown field", signed(testSecret, `{"uid":"u","exp":1700000060,"nonce":"12345678","iat":1}`), testNow, nil},
		{"valid max lifetime", Mint(testSecret, "u", testNow.Add(MaxLifetime), "12345678"), testNow, nil},
		{"valid last second", good, exp.Add(-time.Second), nil},
		{"valid unicode uid", Mint(testSecret, strings.Repeat("用", MaxUIDLen), exp, "12345678"), testNow, nil},
		{"expired at exp", good, exp, ErrExpired},
		{"expired after exp", good, exp.Add(time.Hour), ErrExpired},
		{"lifetime too long", Mint(testSecret, "u", testNow.Add(MaxLifetime+time.Second), "12345678"), testNow, ErrTooLong},
		{"far future", Mint(testSecret, "u", testNow.AddDate(100, 0, 0), "12345678"), testNow, ErrTooLong},
		{"wrong secret", Mint([]byte("other"), "user-1", exp, "nonce-123"), testNow, ErrBadSignature},
		{"empty secret", Mint(nil, "user-1", exp, "nonce-123"), testNow, ErrBadSignature},
		{"payload swapped", Mint(testSecret, "user-2", exp, "nonce-123")[:strings.Index(good, ".")] + "." + sig, testNow, ErrBadSignature},
		// The signature is checked before the payload is parsed.
		{"garbage payload bad sig", base64.RawURLEncoding.EncodeToString([]byte("{not json")) + "." + sig, testNow, ErrBadSignature},
		{"too long", signed(testSecret, `{"uid":"u","exp":1700000060,"nonce":"12345678","x":"`+strings.Repeat("a", MaxCodeLen)+`"}`), testNow, ErrMalformed},
		{"empty", "", testNow, ErrMalformed},
		{"no dot", payload + sig, testNow, ErrMalformed},
		{"two dots", good + ".x", testNow, ErrMalformed},
		{"empty payload", "." + sig, testNow, ErrMalformed},
		{"empty signature", payload + ".", testNow, ErrMalformed},
		{"padded payload", base64.URLEncoding.EncodeToString([]byte(`{"uid":"u","exp":1700000060,"nonce":"12345678"}`)) + "." + sig, testNow, ErrMalformed},
		{"std alphabet sig", payload + "." + base64.RawStdEncoding.EncodeToString([]byte(strings.Repeat("\xff", 32))), testNow, ErrMalformed},
		{"short signature", payload + "." + sig[:20], testNow, ErrMalformed},
		{"not json", signed(testSecret, "hello"), testNow, ErrMalformed},
		{"json null", signed(testSecret, "null"), testNow, ErrMalformed},
		{"json array", signed(testSecret, "[]"), testNow, ErrMalformed},
		{"trailing brace", signed(testSecret, `{"uid":"u","exp":1700000060,"nonce":"12345678"}}`), testNow, ErrMalformed},
		{"trailing data", signed(testSecret, `{"uid":"u","exp":1700000060,"nonce":"12345678"}{}`), testNow, ErrMalformed},
		{"not utf8", signed(testSecret, "{\"uid\":\"\xff\",\"exp\":1700000060,\"nonce\":\"12345678\"}"), testNow, ErrMalformed},
		{"missing uid", signed(testSecret, `{"exp":1700000060,"nonce":"12345678"}`), testNow, ErrMalformed},
		{"missing exp", signed(testSecret, `{"uid":"u","nonce":"12345678"}`), testNow, ErrMalformed},
		{"missing nonce", signed(testSecret, `{"uid":"u","exp":1700000060}`), testNow, ErrMalformed},
		{"null uid", signed(testSecret, `{"uid":null,"exp":1700000060,"nonce":"12345678"}`), testNow, ErrMalformed},
		{"empty uid", Mint(testSecret, "", exp, "12345678"), testNow, ErrMalformed},
		{"uid too long", Mint(testSecret, strings.Repeat("a", MaxUIDLen+1), exp, "12345678"), testNow, ErrMalformed},
		{"numeric uid", signed(testSecret, `{"uid":42,"exp":1700000060,"nonce":"12345678"}`), testNow, ErrMalformed},
		{"nonce too short", Mint(testSecret, "u", exp, "1234567"), testNow, ErrMalformed},
		{"nonce too long", Mint(testSecret, "u", exp, strings.Repeat("n", MaxNonceLen+1)), testNow, ErrMalformed},
		{"exp string", signed(testSecret, `{"uid":"u","exp":"1700000060","nonce":"12345678"}`), testNow, ErrMalformed},
		{"exp float", signed(testSecret, `{"uid":"u","exp":1700000060.5,"nonce":"12345678"}`), testNow, ErrMalformed},
		{"exp exponent", signed(testSecret, `{"uid":"u","exp":1.70000006e9,"nonce":"12345678"}`), testNow, ErrMalformed},
		{"exp zero", signed(testSecret, `{"uid":"u","exp":0,"nonce":"12345678"}`), testNow, ErrMalformed},
		{"exp negative", signed(testSecret, `{"uid":"u","exp":-1,"nonce":"12345678"}`), testNow, ErrMalformed},
		{"exp overflow", signed(testSecret, `{"uid":"u","exp":99999999999999999999,"nonce":"12345678"}`), testNow, ErrMalformed},
	}
	for _, tt := range tests {
		c, err := Verify(testSecret, tt.code, tt.now)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify(%q, now=%d) = %+v, %v; want %v", tt.name, tt.code, tt.now.Unix(), c, err, tt.want)
		}
	}
}

func TestVerifyReturnsClaims(t *testing.T) {
	t.Parallel()
	exp := testNow.Add(90*time.Second + 700*time.Millisecond)
	c, err := Verify(testSecret, Mint(testSecret, `a"b\c<d>`+"\u2028\x01", exp, "nonce-xyz"), testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{UID: `a"b\c<d>` + "\u2028\x01", Exp: time.Unix(exp.Unix(), 0).UTC(), Nonce: "nonce-xyz"}
	if c != want {
		t.Fatalf("Verify = %+v, want %+v", c, want)
	}
}

func TestNewNonce(t *testing.T) {
	t.Parallel()
	a, b := NewNonce(), NewNonce()
	if a == b || len(a) < MinNonceLen || len(a) > MaxNonceLen {
		t.Fatalf("NewNonce = %q, %q", a, b)
	}
}

func FuzzVerify(f *testing.F) {
	exp := testNow.Add(time.Minute)
	f.Add(Mint(testSecret, "user-1", exp, "nonce-123"), []byte(`{"uid":"u","exp":1700000060,"nonce":"12345678"}`))
	f.Add(Mint(testSecret, "用户\u2028<>&\"\\", exp, NewNonce()), []byte(`{"uid":"\u2028\ud800","exp":1700000001,"nonce":"\b\f\n\r\t\u0001xx","z":[1,{}]}`))
	f.Add("a.b", []byte(`{"UID":"x","Exp":1700000300,"NONCE":"12345678"}`))
	f.Add("", []byte("null"))
	f.Fuzz(func(t *testing.T, code string, payload []byte) {
		// Arbitrary codes (almost never correctly signed), and arbitrary
		// payloads correctly signed, to reach the JSON checks.
		for _, code := range []string{code, signed(testSecret, string(payload))} {
			c, err := Verify(testSecret, code, testNow)
			if err != nil {
				if c != (Claims{}) {
					t.Fatalf("Verify(%q) returned claims %+v with error %v", code, c, err)
				}
				for _, e := range []error{ErrMalformed, ErrBadSignature, ErrExpired, ErrTooLong} {
					if errors.Is(err, e) {
						goto next
					}
				}
				t.Fatalf("Verify(%q) error %v is not a sentinel", code, err)
			next:
				continue
			}
			again, err := Verify(testSecret, Mint(testSecret, c.UID, c.Exp, c.Nonce), testNow)
			if err != nil {
				t.Fatalf("re-minted %+v (from %q) does not verify: %v", c, code, err)
			}
			if again != c {
				t.Fatalf("re-minted claims %+v, want %+v (from %q)", again, c, code)
			}
		}
	})
}
