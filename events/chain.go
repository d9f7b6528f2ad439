package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrChainBroken is returned when an aggregate's stored events do not chain:
// one's prevhash is not the hash of the event before it (an event written
// around Bindery, or an altered one). The aggregate is not folded past it;
// `binderyctl audit verify` names the event.
var ErrChainBroken = errors.New("events: the aggregate's hash chain is broken")

// ChainBreakError tells which stored event broke its aggregate's chain.
type ChainBreakError struct {
	Stream   string
	Sequence uint64
	Subject  string
}

func (e *ChainBreakError) Error() string {
	return fmt.Sprintf("events: the hash chain of %s breaks at %s sequence %d", e.Subject, e.Stream, e.Sequence)
}

// Unwrap makes errors.Is(err, ErrChainBroken) hold.
func (e *ChainBreakError) Unwrap() error { return ErrChainBroken }

// ShortHash is a record's hash truncated to 64 bits, what the projections
// keep per aggregate to check the next link: a forger able to write to the
// stream can read the full hash anyway, so the truncation costs nothing.
func ShortHash(raw []byte) uint64 {
	sum := sha256.Sum256(raw)
	return binary.BigEndian.Uint64(sum[:8]) // the first 16 hex digits of HashBytes
}

// ShortPrev is the record's prevhash truncated as ShortHash; 0 when it is
// empty or not hex (0 is never the short hash of a stored event in practice).
func (r Record) ShortPrev() uint64 { return shortOf(r.Envelope.PrevHash) }

func shortOf(h string) uint64 {
	if len(h) < 16 {
		return 0
	}
	var b [8]byte
	if _, err := hex.Decode(b[:], []byte(h[:16])); err != nil {
		return 0
	}
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}
