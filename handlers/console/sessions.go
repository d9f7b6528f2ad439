package console

import (
	"encoding/json"
	"slices"
	"time"
)

// sessionRow is one live session family of an account, as its events tell.
type sessionRow struct {
	ID       string
	App      string
	AMR      []string
	AuthTime time.Time
	Expires  time.Time
}

// liveSessions folds an account's session events (the timeline, newest
// first) into the families that are neither revoked nor expired.
func liveSessions(timeline []timelineEntry, now time.Time) []sessionRow {
	byID := map[string]*sessionRow{}
	var order []string
	for _, e := range slices.Backward(timeline) {
		var d struct {
			SessionID string    `json:"session_id"`
			App       string    `json:"app"`
			AMR       []string  `json:"amr"`
			AuthTime  time.Time `json:"auth_time"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		switch e.Type {
		case "session_issued", "session_refreshed", "session_revoked":
		default:
			continue
		}
		if json.Unmarshal([]byte(e.Data), &d) != nil || d.SessionID == "" {
			continue
		}
		if e.Type == "session_revoked" {
			delete(byID, d.SessionID)
			continue
		}
		row := byID[d.SessionID]
		if row == nil {
			row = &sessionRow{ID: d.SessionID}
			byID[d.SessionID] = row
			order = append(order, d.SessionID)
		}
		row.App, row.AMR, row.AuthTime, row.Expires = d.App, d.AMR, d.AuthTime, d.ExpiresAt
	}
	var out []sessionRow
	for _, id := range slices.Backward(order) {
		if row := byID[id]; row != nil && now.Before(row.Expires) {
			out = append(out, *row)
		}
	}
	return out
}
