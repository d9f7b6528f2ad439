package password

import (
	"errors"
	"testing"
)

func TestCheckHash(t *testing.T) {
	good, err := HashWithParams("correct horse", CheapParams())
	if err != nil {
		t.Fatal(err)
	}
	p, err := CheckHash(good)
	if err != nil || p.Memory != CheapParams().Memory || p.Time != 1 || p.KeyLen != 32 {
		t.Fatalf("CheckHash(%q) = %+v, %v", good, p, err)
	}
	for _, bad := range []string{
		"", "correct horse", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",           // salt too short
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", // 4 GiB
		"$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",        // bcrypt
	} {
		if _, err := CheckHash(bad); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("CheckHash(%q) = %v, want ErrMalformedHash", bad, err)
		}
	}
}
