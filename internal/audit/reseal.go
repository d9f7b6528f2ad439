package audit

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bindery/bindery/internal/crypto/secrets"
)

// ResealKey returns an entry of KeyBucket with its private half re-sealed
// under next, opening it with open (the outgoing master key and the
// retired ones); nil when there is nothing to re-seal: the entry is not a
// key (the current-key pointer), next alone opens it already, or it opens
// under neither — a key planted without the master key, which the server
// does not trust (loadKeyring) and a rotation must not make trusted.
// planted reports that last case.
func ResealKey(name string, value []byte, open, next *secrets.Box) (out []byte, planted bool, err error) {
	if !strings.HasPrefix(name, keyPrefix) {
		return nil, false, nil
	}
	var sk storedKey
	if err := json.Unmarshal(value, &sk); err != nil {
		return nil, true, nil
	}
	aad := keyAAD(sk.KeyID)
	if _, err := next.Open(sk.PrivateSealed, aad); err == nil {
		return nil, false, nil
	}
	seed, err := open.Open(sk.PrivateSealed, aad)
	if err != nil {
		return nil, true, nil
	}
	defer clear(seed)
	if sk.PrivateSealed, err = next.Seal(seed, aad); err != nil {
		return nil, false, fmt.Errorf("audit: re-seal key %s: %w", sk.KeyID, err)
	}
	out, err = json.Marshal(sk)
	return out, false, err
}

// IsKeyEntry reports whether an entry of KeyBucket holds a key (the other
// one names which key signs now, and holds nothing sealed).
func IsKeyEntry(name string) bool { return strings.HasPrefix(name, keyPrefix) }
