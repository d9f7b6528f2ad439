package projections

import (
	"slices"
	"strings"
)

// AccountQuery is a search over the accounts view. Every set field must
// hold; answers come in account id order, after After.
type AccountQuery struct {
	// Q matches a name prefix (display name, one of its words, username;
	// case-insensitive) or, exactly, an identifier: account id, username,
	// email, external_id, or phone (Phone: Q normalised by the caller, as
	// phone numbers are stored in E.164).
	Q, Phone string // Q trimmed by the caller
	Status   string // active, disabled
	App      string // has an identity bound in this app
	Org      string // member of this org
	Role     string // holds this role (in any org)
	After    string // answer ids greater than this one (the cursor)
	Limit    int    // at most this many (callers bound it)
}

// Search answers one page of accounts matching q and whether more follow.
func (a *Accounts) Search(q AccountQuery) ([]Account, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if q.Limit <= 0 {
		q.Limit = 50
	}
	out := make([]Account, 0, min(q.Limit, 64))
	take := func(acc *Account) bool {
		if len(out) == q.Limit {
			return false
		}
		out = append(out, acc.copy())
		return true
	}
	var exact []string
	low := strings.ToLower(q.Q)
	if q.Q != "" {
		// A narrow prefix is answered from the name index; a broad one (most
		// accounts called "Employee …") by walking ids in order below, which
		// stops after one page instead of sorting every match.
		exact = a.exact(q)
		var named []string
		broad := false
		a.idx.prefix(low, func(id string) bool {
			if len(named) == broadPrefix {
				broad = true
				return false
			}
			named = append(named, id)
			return true
		})
		if !broad {
			ids := append(exact, named...)
			ids = slices.DeleteFunc(ids, func(id string) bool { return id <= q.After })
			slices.Sort(ids)
			for _, id := range slices.Compact(ids) {
				if acc := a.byID[id]; acc != nil && q.matches(acc) {
					if !take(acc) {
						return out, true
					}
				}
			}
			return out, false
		}
	}
	// Walk the smallest filter's members (or every id) in order.
	more := false
	a.idx.smallest(q).ascend(q.After, func(id string) bool {
		acc := a.byID[id]
		if id == q.After || acc == nil || !q.matches(acc) {
			return true
		}
		if q.Q != "" && !slices.Contains(exact, id) && !hasNamePrefix(acc, low) {
			return true
		}
		if !take(acc) {
			more = true
			return false
		}
		return true
	})
	return out, more
}

// broadPrefix is the number of name matches above which a search walks the
// ids instead of sorting the matches.
const broadPrefix = 2000

// exact are the ids q.Q names exactly: an account id, username, email,
// external_id or phone. Callers hold a.mu.
func (a *Accounts) exact(q AccountQuery) []string {
	var ids []string
	low := strings.ToLower(q.Q)
	if _, ok := a.byID[low]; ok {
		ids = append(ids, low)
	}
	for _, l := range []struct {
		idx map[string]string
		key string
	}{
		{a.byUsername, low}, {a.byEmail, low}, {a.byExternal, q.Q}, {a.byPhone, q.Phone},
	} {
		if l.key == "" {
			continue
		}
		if id, ok := l.idx[l.key]; ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// hasNamePrefix tells whether one of the account's name tokens starts with
// low (lower-cased), as the name index would, without allocating.
func hasNamePrefix(acc *Account, low string) bool {
	folds := func(s string) bool { return len(s) >= len(low) && strings.EqualFold(s[:len(low)], low) }
	name := strings.TrimSpace(acc.DisplayName)
	if folds(name) || folds(acc.Username) {
		return true
	}
	for w := range strings.FieldsSeq(name) {
		if folds(w) {
			return true
		}
	}
	return false
}

func (q AccountQuery) matches(acc *Account) bool {
	if q.Status != "" && acc.Status != q.Status {
		return false
	}
	if q.Org != "" && !slices.Contains(acc.Orgs, q.Org) {
		return false
	}
	if q.Role != "" && !slices.ContainsFunc(acc.Roles, func(g RoleGrant) bool { return g.Role == q.Role }) {
		return false
	}
	if q.App != "" && !slices.ContainsFunc(acc.Bindings, func(b Binding) bool { return b.App == q.App }) {
		return false
	}
	return true
}
