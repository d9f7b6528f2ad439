package authz

import (
	"context"
	"sync"

	"github.com/bindery/bindery/events"
)

// orgTree is this process's copy of the org/_tree aggregate: the parent of
// every org, brought up to date from the store before each decision that
// needs it (an incremental read of what came after the copy).
type orgTree struct {
	mu      sync.Mutex
	version uint64
	hash    string
	parents map[string]string
}

var treeAggregate = events.Aggregate{Type: events.AggregateOrg, ID: events.OrgTreeID}

// catchUp reads the tree events after the copy. Callers hold t.mu.
func (t *orgTree) catchUp(ctx context.Context, store events.Store) error {
	recs, err := store.Load(ctx, treeAggregate, t.version)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if e, ok := r.Event.(events.OrgPlaced); ok {
			t.parents[e.OrgID] = e.Parent
		}
		t.version, t.hash = r.Sequence, r.Hash()
	}
	return nil
}

// Parent implements org.Tree. Callers hold t.mu.
func (t *orgTree) Parent(id string) (string, bool) {
	p, ok := t.parents[id]
	return p, ok
}

// orgExists is strongly consistent: an org once defined is never removed,
// so a positive answer from the copy is final, and a negative one is
// confirmed against the store.
func (s *Service) orgExists(ctx context.Context, id string) (bool, error) {
	s.tree.mu.Lock()
	defer s.tree.mu.Unlock()
	if _, ok := s.tree.parents[id]; ok {
		return true, nil
	}
	if err := s.tree.catchUp(ctx, s.store); err != nil {
		return false, err
	}
	_, ok := s.tree.parents[id]
	return ok, nil
}
