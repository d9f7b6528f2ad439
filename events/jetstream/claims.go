package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
)

// claim is the current state of one claim subject: who holds the value
// ("" = nobody) and the sequence of the subject's last message (0 = none).
type claim struct {
	owner string
	seq   uint64
}

// multiGetMax is how many subjects one direct multi-last get asks for: the
// server answers at most 1024 messages per request.
const multiGetMax = 1000

// eachGetWorkers bounds the concurrent single gets on streams that do not
// allow direct gets (replicated streams, where only the leader may answer).
const eachGetWorkers = 16

// claimStates reads the state of many claim subjects. On a stream that
// allows direct gets it asks for up to 1000 subjects in one multi-last
// request (one round trip instead of one per value); otherwise it runs
// concurrent gets. Subjects with no message are absent from the answer.
func (s *Store) claimStates(ctx context.Context, subjects []string) (map[string]claim, error) {
	out := make(map[string]claim, len(subjects))
	switch {
	case len(subjects) == 0:
		return out, nil
	case len(subjects) == 1 || !s.direct():
		return out, s.claimStatesEach(ctx, subjects, out)
	}
	for start := 0; start < len(subjects); start += multiGetMax {
		if err := s.multiLast(ctx, subjects[start:min(start+multiGetMax, len(subjects))], out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// direct reports whether the history stream answers direct gets (R1).
func (s *Store) direct() bool { return directGets(s.history) }

func directGets(st jetstream.Stream) bool {
	info := st.CachedInfo()
	return info != nil && info.Config.AllowDirect
}

// multiLast reads the claim subjects' last messages in one direct get.
func (s *Store) multiLast(ctx context.Context, subjects []string, out map[string]claim) error {
	return s.lastBySubjects(ctx, HistoryStream, subjects, func(subj string, seq uint64, data []byte) error {
		var rec claimRecord
		if err := json.Unmarshal(data, &rec); err != nil {
			return fmt.Errorf("jetstream: claim %s: %w", subj, err)
		}
		out[subj] = claim{owner: rec.Owner, seq: seq}
		return nil
	})
}

// errTooManyResults is the server's refusal of a multi-last get that
// matches more than 1024 subjects.
var errTooManyResults = errors.New("jetstream: a multi-last get matched too many subjects")

// lastBySubjects is one direct multi-last get on a stream: the last message
// of every subject matching the filters (literal or wildcard), each handed
// to fn. The server streams the messages, then an end-of-batch status
// (204), or answers 404 when nothing matches, 413 past 1024 subjects.
func (s *Store) lastBySubjects(ctx context.Context, stream string, filters []string, fn func(subj string, seq uint64, data []byte) error) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	req, err := json.Marshal(struct {
		MultiLast []string `json:"multi_last"`
	}{filters})
	if err != nil {
		return err
	}
	// A callback subscription: a synchronous one allocates a channel of
	// 64k slots per request.
	var (
		mu       sync.Mutex
		finished bool
		done     = make(chan error, 1)
	)
	finish := func(err error) {
		finished = true
		done <- err
	}
	sub, err := s.nc.Subscribe(s.nc.NewInbox(), func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		if finished {
			return
		}
		if status := m.Header.Get("Status"); status != "" && len(m.Data) == 0 {
			switch status {
			case "204", "404": // end of batch; nothing found
				finish(nil)
			case "413":
				finish(errTooManyResults)
			default:
				finish(fmt.Errorf("jetstream: multi-last get: %s %s", status, m.Header.Get("Description")))
			}
			return
		}
		subj := m.Header.Get(jetstream.SubjectHeader)
		seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
		if subj == "" || err != nil {
			finish(errors.New("jetstream: multi-last get: an answer without subject or sequence"))
			return
		}
		if err := fn(subj, seq, m.Data); err != nil {
			finish(err)
		}
	})
	if err != nil {
		return fmt.Errorf("jetstream: multi-last get: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := s.nc.PublishRequest("$JS.API.DIRECT.GET."+stream, sub.Subject, req); err != nil {
		return fmt.Errorf("jetstream: multi-last get: %w", err)
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		mu.Lock() // fn is not running, and will not run again
		finished = true
		mu.Unlock()
		return fmt.Errorf("jetstream: multi-last get: %w", ctx.Err())
	}
}

// claimStatesEach reads the subjects one get each, a few at a time.
func (s *Store) claimStatesEach(ctx context.Context, subjects []string, out map[string]claim) error {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		first error
	)
	next := make(chan string)
	for range min(eachGetWorkers, len(subjects)) {
		wg.Go(func() {
			for subj := range next {
				owner, seq, err := s.claimState(ctx, subj)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil && seq != 0 {
					out[subj] = claim{owner: owner, seq: seq}
				}
				mu.Unlock()
			}
		})
	}
	for _, subj := range subjects {
		next <- subj
	}
	close(next)
	wg.Wait()
	return first
}

// Owners implements events.OwnerLister: who holds each value now, read in
// one request per 1000 values where the stream allows it.
func (s *Store) Owners(ctx context.Context, keys []events.ClaimKey) (map[events.ClaimKey]string, error) {
	subjects := make([]string, 0, len(keys))
	bySubject := make(map[string]events.ClaimKey, len(keys))
	for _, k := range keys {
		subj := s.claimSubject(k.Kind, k.Value)
		if _, dup := bySubject[subj]; !dup {
			subjects = append(subjects, subj)
			bySubject[subj] = k
		}
	}
	states, err := s.claimStates(ctx, subjects)
	if err != nil {
		return nil, err
	}
	out := make(map[events.ClaimKey]string, len(states))
	for subj, c := range states {
		if c.owner != "" {
			out[bySubject[subj]] = c.owner
		}
	}
	return out, nil
}

var _ events.OwnerLister = (*Store)(nil)
