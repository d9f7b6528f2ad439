package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"time"

	bjs "github.com/bindery/bindery/events/jetstream"
)

// Checkpoint is a signed statement that a stream held exactly these
// messages: the ones with sequences FromSeq..ToSeq except Skip (earlier
// checkpoints), Count of them, whose hashes in order give Digest. Each
// checkpoint names the one before it on its stream (PrevCheckpointSeq and
// the SHA-256 of its stored bytes), so checkpoints form a chain that cannot
// be cut or forked without a failed signature or a broken link.
type Checkpoint struct {
	Version int    `json:"version"`
	Stream  string `json:"stream"` // history or authlog
	FromSeq uint64 `json:"from_seq"`
	ToSeq   uint64 `json:"to_seq"`
	Count   int    `json:"count"`
	// Skip lists sequences in the range that are not covered: the previous
	// checkpoint's own message.
	Skip []uint64 `json:"skip,omitempty"`
	// ExpiredUnsealed counts messages after the previous checkpoint that the
	// stream had already dropped (retention) when this one was made.
	ExpiredUnsealed uint64 `json:"expired_unsealed,omitempty"`
	// Digest is the hex SHA-256 over every covered message, in order, of
	// its sequence (8 bytes big-endian) and its leaf hash (see LeafHash).
	Digest string `json:"digest"`
	// Leaves holds the first 8 bytes of each covered message's leaf hash
	// (base64), so a verifier can name the one message that differs.
	Leaves             string    `json:"leaves"`
	PrevCheckpointHash string    `json:"prev_checkpoint_hash"`
	PrevCheckpointSeq  uint64    `json:"prev_checkpoint_seq"`
	SignedAt           time.Time `json:"signed_at"`
	KeyID              string    `json:"key_id"`
	Signature          string    `json:"signature,omitempty"` // base64 Ed25519 over SigningBytes
}

// CheckpointVersion is the format version written.
const CheckpointVersion = 1

// leafPrefix is how many bytes of each leaf hash a checkpoint lists.
const leafPrefix = 8

// MaxPerCheckpoint bounds the messages one checkpoint covers (its size
// stays near 45 KB); a sealer writes several when more accumulated.
const MaxPerCheckpoint = 4096

// SealSubject is the subject of a stream's checkpoints.
func SealSubject(kind string) string { return bjs.SealPrefix + kind }

// signingContext separates checkpoint signatures from any other use of
// the key.
const signingContext = "bindery-audit-checkpoint-v1\n"

// SigningBytes is what the signature covers: the checkpoint's JSON without
// its signature, after a context string.
func (c Checkpoint) SigningBytes() []byte {
	c.Signature = ""
	b, _ := json.Marshal(c)
	return append([]byte(signingContext), b...)
}

// Sign sets KeyID and Signature.
func (c *Checkpoint) Sign(keyID string, priv ed25519.PrivateKey) {
	c.KeyID = keyID
	c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, c.SigningBytes()))
}

// errBadSignature reports a checkpoint whose signature does not hold.
var errBadSignature = errors.New("audit: checkpoint signature does not verify")

// VerifySignature checks the signature with the key it names.
func (c Checkpoint) VerifySignature(keys KeySet) error {
	pub, ok := keys[c.KeyID]
	if !ok {
		return errors.New("audit: checkpoint signed by unknown key " + c.KeyID)
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(pub, c.SigningBytes(), sig) {
		return errBadSignature
	}
	return nil
}

// covered lists the sequences the checkpoint covers, in order.
func (c Checkpoint) covered() []uint64 {
	if c.ToSeq < c.FromSeq || c.Count < 0 || c.ToSeq-c.FromSeq+1 != uint64(c.Count)+uint64(len(c.Skip)) {
		return nil
	}
	skip := map[uint64]bool{}
	for _, s := range c.Skip {
		skip[s] = true
	}
	out := make([]uint64, 0, c.ToSeq-c.FromSeq+1)
	for s := c.FromSeq; s <= c.ToSeq; s++ {
		if !skip[s] {
			out = append(out, s)
		}
	}
	return out
}

// leaves decodes the leaf prefixes.
func (c Checkpoint) leaves() ([][leafPrefix]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(c.Leaves)
	if err != nil || len(b)%leafPrefix != 0 {
		return nil, false
	}
	out := make([][leafPrefix]byte, len(b)/leafPrefix)
	for i := range out {
		copy(out[i][:], b[i*leafPrefix:])
	}
	return out, true
}

// LeafHash is the hash a checkpoint covers for one message: SHA-256 of the
// subject's length (2 bytes big-endian), the subject, and the SHA-256 of
// the data (the hash an event's successor holds as prevhash).
func LeafHash(subject string, dataHash [32]byte) [32]byte {
	var b [2 + 256 + 32]byte
	n := copy(b[2:], subject)
	binary.BigEndian.PutUint16(b[:2], uint16(len(subject)))
	if len(subject) > 256 {
		h := sha256.New()
		h.Write(b[:2])
		h.Write([]byte(subject))
		h.Write(dataHash[:])
		var out [32]byte
		h.Sum(out[:0])
		return out
	}
	copy(b[2+n:], dataHash[:])
	return sha256.Sum256(b[:2+n+32])
}

// digester accumulates a checkpoint's digest and leaves.
type digester struct {
	h      hash.Hash
	leaves []byte
	count  int
}

func newDigester() *digester { return &digester{h: sha256.New()} }

func (d *digester) add(seq uint64, leaf [32]byte) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	d.h.Write(b[:])
	d.h.Write(leaf[:])
	d.leaves = append(d.leaves, leaf[:leafPrefix]...)
	d.count++
}

func (d *digester) digest() string { return hex.EncodeToString(d.h.Sum(nil)) }

// checkpointHash is the link the next checkpoint holds.
func checkpointHash(stored []byte) string {
	s := sha256.Sum256(stored)
	return hex.EncodeToString(s[:])
}
