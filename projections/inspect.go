package projections

import (
	"encoding/json"
	"errors"

	"github.com/bindery/bindery/events"
)

// ErrNoView is returned for a view name the engine does not run.
var ErrNoView = errors.New("projections: no such view")

// ViewNames lists the engine's views, in the order it applies them.
func (e *Engine) ViewNames() []string {
	out := make([]string, 0, len(e.views))
	for _, v := range e.views {
		out = append(out, v.Name())
	}
	return out
}

// ViewSnapshot returns one view's snapshot with the position it reflects,
// captured under both streams' apply locks so that the two agree (what an
// audit replay compares against).
func (e *Engine) ViewSnapshot(name string) (json.RawMessage, events.Position, error) {
	var view Projection
	for _, v := range e.views {
		if v.Name() == name {
			view = v
		}
	}
	if view == nil {
		return nil, events.Position{}, ErrNoView
	}
	e.applyMu[hist].Lock()
	e.applyMu[auth].Lock()
	pos := e.Position()
	var enc func() (json.RawMessage, error)
	var raw json.RawMessage
	var err error
	if c, ok := view.(Capturer); ok {
		enc = c.Capture()
	} else {
		raw, err = view.Snapshot()
	}
	e.applyMu[auth].Unlock()
	e.applyMu[hist].Unlock()
	if enc != nil {
		raw, err = enc()
	}
	return raw, pos, err
}
