package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Envelope is the CloudEvents 1.0 structured-mode JSON of one stored event,
// with Bindery's extensions: actor, requestid and prevhash (the hash of the
// previous event of the same aggregate, the link audit verify checks).
type Envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Actor           string          `json:"actor"`
	RequestID       string          `json:"requestid,omitempty"`
	PrevHash        string          `json:"prevhash"`
	Data            json.RawMessage `json:"data"`
}

// Source is the CloudEvents source of every Bindery event.
const Source = "urn:bindery"

// Meta is what a command knows about who asked and when.
type Meta struct {
	Actor     string
	RequestID string
	Time      time.Time
}

// Record is one event as read back from the store.
type Record struct {
	Stream   string // StreamHistory or StreamAuthLog
	Sequence uint64
	Subject  string // the NATS subject
	Envelope Envelope
	Event    Event  // decoded payload; nil when the type is unknown to this build
	Raw      []byte // the stored bytes, as hashed
}

// Hash is the hex SHA-256 of the stored bytes: the next event's prevhash.
func (r Record) Hash() string { return HashBytes(r.Raw) }

// HashBytes is the hex SHA-256 used for the aggregate hash chain.
func HashBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Aggregate parses the aggregate from the record's subject.
func (r Record) Aggregate() Aggregate {
	a, _ := ParseSubject(r.Subject)
	return a
}

// ParseSubject splits bindery.events.<type>.<id>.<event>.
func ParseSubject(subject string) (Aggregate, string) {
	if len(subject) <= len(SubjectPrefix) || subject[:len(SubjectPrefix)] != SubjectPrefix {
		return Aggregate{}, ""
	}
	rest := subject[len(SubjectPrefix):]
	var parts [3]string
	n := 0
	start := 0
	for i := 0; i < len(rest) && n < 2; i++ {
		if rest[i] == '.' {
			parts[n] = rest[start:i]
			n++
			start = i + 1
		}
	}
	if n != 2 {
		return Aggregate{}, ""
	}
	parts[2] = rest[start:]
	return Aggregate{Type: parts[0], ID: parts[1]}, parts[2]
}
