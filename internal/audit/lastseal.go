package audit

import (
	"context"
	"time"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
)

// LastSeal is a stream's newest checkpoint: when it was stored and how far
// it covers (zero Time: the stream was never sealed).
type LastSeal struct {
	Stream string
	Time   time.Time
	ToSeq  uint64
	Count  int
}

// LastSeals reads the newest checkpoint of each stream (the console's
// overview).
func (s *Service) LastSeals(ctx context.Context) ([]LastSeal, error) {
	var out []LastSeal
	for _, kind := range []string{events.StreamHistory, events.StreamAuthLog} {
		st, err := s.js.Stream(ctx, bjs.StreamName(kind))
		if err != nil {
			return nil, err
		}
		ck, seq, _, err := lastCheckpoint(ctx, st, kind)
		if err != nil {
			return nil, err
		}
		ls := LastSeal{Stream: kind}
		if ck != nil {
			m, err := st.GetMsg(ctx, seq)
			if err != nil {
				return nil, err
			}
			ls.Time, ls.ToSeq, ls.Count = m.Time, ck.ToSeq, ck.Count
		}
		out = append(out, ls)
	}
	return out, nil
}
