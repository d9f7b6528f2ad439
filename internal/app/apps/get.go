package apps

import (
	"context"

	"github.com/bindery/bindery/domain/app"
	"github.com/bindery/bindery/projections"
)

// Get finds an app: in the view, or — right after it was created on this
// or another replica, before the view has it — in the store.
func (s *Service) Get(ctx context.Context, id string) (projections.App, error) {
	if !app.ValidID(id) {
		return projections.App{}, app.ErrNotFound
	}
	if a, ok := s.View.Get(id); ok {
		return a, nil
	}
	st, _, err := s.Repo.Get(ctx, id)
	if err != nil {
		return projections.App{}, err
	}
	if !st.Exists() {
		// Do not keep unknown ids in the cache: they come from the public
		// API, and a later registration must be seen.
		s.Repo.Forget(id)
		return projections.App{}, app.ErrNotFound
	}
	return projections.App{ID: id, AppSettings: st.Settings()}, nil
}
