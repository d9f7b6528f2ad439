package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
)

// Verification reads a stream with several consumers at once, each over its
// own range of sequences: reading, hashing and parsing each message is
// the cost, and one consumer is bound by JetStream's delivery to it. The
// ranges' scans are then checked in stream order by one goroutine (the
// chain of an aggregate in range k continues from its last event in the
// ranges before k, and a checkpoint covers messages of earlier ranges),
// which only looks up and compares hashes.

// DefaultConsumers is how many ranges of a stream a verification reads at
// once (Verifier.Consumers).
const DefaultConsumers = 4

// rangeSize is how many sequences one range covers: a consumer per range
// costs two API requests, and at most a pull's worth (batch) is read past
// its end. (A variable: this package's tests make ranges tiny.)
var rangeSize uint64 = 32 * 1024

// scanned is what the ordered check needs of one message, computed by a
// range's reader.
type scanned struct {
	seq        uint64
	subject    string
	checkpoint []byte // a checkpoint's stored bytes (nil for anything else)
	claim      bool   // not an event (a uniqueness claim)
	bad        bool   // does not decode as the CloudEvent its subject names
	id         string // the CloudEvent id of a bad event, when readable
	leaf       [32]byte
	dataHash   [32]byte
	key        [16]byte // aggKey of the event's aggregate
	hasPrev    bool     // the envelope names a prevhash
	prevOK     bool     // ... that decodes to 32 bytes, in prev
	prev       [32]byte
}

// scanMessage computes a message's hashes and reads its envelope.
func scanMessage(seal string, seq uint64, subject string, data []byte) scanned {
	if subject == seal {
		return scanned{seq: seq, subject: subject, checkpoint: data}
	}
	m := scanned{seq: seq, subject: subject, dataHash: sha256.Sum256(data)}
	m.leaf = LeafHash(subject, m.dataHash)
	if !strings.HasPrefix(subject, events.SubjectPrefix) {
		m.claim = true
		return m
	}
	agg, name := events.ParseSubject(subject)
	env, ok := readEnvelope(data)
	if !ok || env.Subject != agg.String() || !strings.HasPrefix(env.Type, "bindery."+name+".v") {
		m.bad, m.id = true, env.ID
		return m
	}
	// Keyed by a hash of the aggregate's subject prefix: a map without
	// pointers is not scanned by the collector, which matters with
	// millions of aggregates.
	m.key = aggKey(subject[:len(subject)-len(name)-1])
	m.hasPrev = env.PrevHash != ""
	if len(env.PrevHash) == 2*len(m.prev) {
		_, err := hex.Decode(m.prev[:], []byte(env.PrevHash))
		m.prevOK = err == nil
	}
	return m
}

// scanRanges reads stream (a JetStream name) over (after, end] with up to
// consumers cursors at once and calls fn with each message's scan in
// sequence order, until fn answers false or the range is done.
func scanRanges(ctx context.Context, js jetstream.JetStream, stream, seal string, after, end uint64, consumers int, fn func(*scanned) bool) error {
	if consumers < 1 {
		consumers = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		items []scanned
		err   error
	}
	type job struct {
		from, to uint64 // (from, to]
		out      chan result
	}
	jobs := make(chan job)
	// ordered holds each range's result in stream order; its capacity
	// bounds the ranges read ahead of the check (and so the memory).
	ordered := make(chan chan result, consumers)
	var workers sync.WaitGroup
	for range consumers {
		workers.Go(func() {
			for j := range jobs {
				items, err := scanRange(ctx, js, stream, seal, j.from, j.to)
				j.out <- result{items, err}
			}
		})
	}
	go func() {
		defer close(ordered)
		defer close(jobs)
		for from := after; from < end; from += rangeSize {
			j := job{from: from, to: min(end, from+rangeSize), out: make(chan result, 1)}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
			select {
			case ordered <- j.out:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer workers.Wait()
	defer cancel() // runs before the wait: stops the readers of ranges not needed
	for out := range ordered {
		r := <-out
		if r.err != nil {
			return r.err
		}
		for k := range r.items {
			if !fn(&r.items[k]) {
				return nil
			}
		}
	}
	return ctx.Err()
}

// scanRange reads (after, end] with one cursor.
func scanRange(ctx context.Context, js jetstream.JetStream, stream, seal string, after, end uint64) ([]scanned, error) {
	cur, err := openCursor(ctx, js, stream, nil, after, end)
	if err != nil {
		return nil, err
	}
	defer cur.close()
	out := make([]scanned, 0, end-after)
	for {
		msg, seq, err := cur.next()
		if err != nil {
			return nil, err
		}
		if msg == nil {
			return out, nil
		}
		out = append(out, scanMessage(seal, seq, msg.Subject, msg.Data))
	}
}

// consume checks one scanned message against what came before it.
func (c *streamCheck) consume(m *scanned) {
	if m.checkpoint != nil {
		c.checkpoint(m.seq, m.checkpoint)
		return
	}
	c.pending = append(c.pending, pend{seq: m.seq, leaf: m.leaf})
	if m.claim {
		c.rep.Claims++
		return
	}
	c.rep.Events++
	if m.bad {
		if c.bad == nil {
			c.bad = &Finding{Stream: c.kind, Seq: m.seq, Subject: m.subject, ID: m.id, Reason: ReasonAltered,
				Detail: "the stored event does not decode as the CloudEvent its subject names"}
		}
		return
	}
	link, seen := c.aggs[m.key]
	switch {
	case seen:
		if !m.prevOK || m.prev != link.hash {
			if c.chain == nil {
				c.chain = &chainBreak{pred: link.seq, succ: m.seq, agg: aggregateOf(m.subject)}
			}
		}
	case m.hasPrev && !(c.expiring && c.rep.FirstSeq > 1):
		if c.chain == nil {
			c.chain = &chainBreak{succ: m.seq, agg: aggregateOf(m.subject)}
		}
	}
	c.aggs[m.key] = aggLink{seq: m.seq, hash: m.dataHash}
}

func aggregateOf(subject string) string {
	agg, _ := events.ParseSubject(subject)
	return agg.String()
}
