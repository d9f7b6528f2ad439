package projections

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bindery/bindery/events"
)

// App is the read model of one login scheme. It holds the secrets sealed,
// as the events do, so that a login opens them on use; handlers must never
// render it as is (see handlers/apps.go).
type App struct {
	ID string `json:"id"`
	events.AppSettings
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Apps is the view of every app by id.
type Apps struct {
	mu    sync.RWMutex
	byID  map[string]*App
	apply Dispatch // the view's own table, for Apply
}

// NewApps returns an empty view.
func NewApps() *Apps {
	a := &Apps{byID: map[string]*App{}}
	a.apply = NewDispatch(a)
	return a
}

// Name implements Projection.
func (a *Apps) Name() string { return "apps" }

// Reducers implements Projection: the app view's table.
func (a *Apps) Reducers() []Reducer {
	return guarded(&a.mu,
		On(func(e events.AppRegistered, r events.Record) { a.set(e.AppID, e.AppSettings, r.Envelope.Time) }),
		On(func(e events.AppUpdated, r events.Record) { a.set(e.AppID, e.AppSettings, r.Envelope.Time) }),
	)
}

// Apply reduces one record into the view (through its table).
func (a *Apps) Apply(r events.Record) { a.apply.Apply(r) }

// set stores an app's settings. Callers hold a.mu.
func (a *Apps) set(id string, s events.AppSettings, at time.Time) {
	cur := a.byID[id]
	if cur == nil {
		cur = &App{ID: id, CreatedAt: at}
		a.byID[id] = cur
	}
	cur.AppSettings = cloneAppSettings(s)
	cur.UpdatedAt = at
}

func cloneAppSettings(s events.AppSettings) events.AppSettings {
	s.MatchRules = slices.Clone(s.MatchRules)
	s.FieldMapping = maps.Clone(s.FieldMapping)
	return s
}

// Get returns a copy of the app, or false.
func (a *Apps) Get(id string) (App, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	cur, ok := a.byID[id]
	if !ok {
		return App{}, false
	}
	c := *cur
	c.AppSettings = cloneAppSettings(cur.AppSettings)
	return c, true
}

// IDs lists the app ids, sorted.
func (a *Apps) IDs() []string {
	a.mu.RLock()
	ids := slices.Collect(maps.Keys(a.byID))
	a.mu.RUnlock()
	slices.Sort(ids)
	return ids
}

// Snapshot implements Projection (apps sorted by id).
func (a *Apps) Snapshot() (json.RawMessage, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	list := slices.Collect(maps.Values(a.byID))
	slices.SortFunc(list, func(x, y *App) int { return strings.Compare(x.ID, y.ID) })
	return json.Marshal(list)
}

// Restore implements Projection.
func (a *Apps) Restore(raw json.RawMessage) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byID = map[string]*App{}
	if raw == nil {
		return nil
	}
	var list []*App
	if err := json.Unmarshal(raw, &list); err != nil {
		return err
	}
	for _, app := range list {
		a.byID[app.ID] = app
	}
	return nil
}
