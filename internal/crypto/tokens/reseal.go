package tokens

import (
	"github.com/bindery/bindery/internal/crypto/secrets"
)

// KeySetKey is the entry of KeyBucket that holds the signing-key set.
const KeySetKey = keySetKey

// ResealKeySet returns a stored signing-key set (the KeySetKey entry) with
// every private key re-sealed under next, opening them with open (the
// outgoing master key and the retired ones); nil when next alone opens
// the set already (an earlier, interrupted rotation re-sealed it). The
// keys, their ids, ages and retirements stay as they are: tokens signed
// before the rotation still verify.
func ResealKeySet(data []byte, open, next *secrets.Box) ([]byte, error) {
	if _, err := decodeSet(data, next); err == nil {
		return nil, nil
	}
	keys, err := decodeSet(data, open)
	if err != nil {
		return nil, err
	}
	return encodeSet(keys, next)
}
