package projections

import (
	"slices"
	"sort"
	"strings"
)

// accountIndex is the accounts view's search index: every account id in
// order (for cursor paging), the lower-cased name tokens (display name, its
// words, username) for prefix search, and the members of each filter
// (disabled, role, org, app) in id order, so a filtered page walks only
// the smallest of them. It holds ids only; answers are read from the
// view's accounts. It is kept by Accounts.Apply under the view's lock and
// rebuilt on Restore, so it is never in a snapshot.
type accountIndex struct {
	ids      sortedStrings
	names    sortedStrings // token + "\x00" + account id
	disabled sortedStrings
	roles    map[string]*sortedStrings // role name → holders (in any org)
	orgs     map[string]*sortedStrings // org id → members
	apps     map[string]*sortedStrings // app id → accounts with an identity bound in it
}

// update moves the index from an account's old version to its new one
// (either may be nil: created, or gone).
func (x *accountIndex) update(old, now *Account) {
	if old == nil && now != nil {
		x.ids.insert(now.ID)
	}
	var was, is accountKeys
	if old != nil {
		was = keysOf(old)
	}
	if now != nil {
		is = keysOf(now)
	}
	id := ""
	if now != nil {
		id = now.ID
	} else if old != nil {
		id = old.ID
	}
	if was.disabled != is.disabled {
		if is.disabled {
			x.disabled.insert(id)
		} else {
			x.disabled.remove(id)
		}
	}
	x.roles = move(x.roles, id, was.roles, is.roles)
	x.orgs = move(x.orgs, id, was.orgs, is.orgs)
	x.apps = move(x.apps, id, was.apps, is.apps)
	if equalStrings(was.names, is.names) {
		return
	}
	for _, t := range was.names {
		x.names.remove(t + "\x00" + id)
	}
	for _, t := range is.names {
		x.names.insert(t + "\x00" + id)
	}
}

// accountKeys are what the index files an account under.
type accountKeys struct {
	disabled                 bool
	names, roles, orgs, apps []string // each sorted, unique
}

func keysOf(acc *Account) accountKeys {
	k := accountKeys{disabled: acc.Status == "disabled", names: nameTokens(acc), orgs: acc.Orgs}
	for _, g := range acc.Roles {
		k.roles = append(k.roles, g.Role)
	}
	for _, b := range acc.Bindings {
		if b.App != "" {
			k.apps = append(k.apps, b.App)
		}
	}
	k.roles, k.orgs, k.apps = uniq(k.roles), uniq(slices.Clone(k.orgs)), uniq(k.apps)
	return k
}

// move files id under the keys it now has and no longer under the others.
func move(m map[string]*sortedStrings, id string, was, is []string) map[string]*sortedStrings {
	if equalStrings(was, is) {
		return m
	}
	if m == nil {
		m = map[string]*sortedStrings{}
	}
	for _, k := range was {
		if !slices.Contains(is, k) && m[k] != nil {
			m[k].remove(id)
			if m[k].n == 0 {
				delete(m, k)
			}
		}
	}
	for _, k := range is {
		if !slices.Contains(was, k) {
			if m[k] == nil {
				m[k] = &sortedStrings{}
			}
			m[k].insert(id)
		}
	}
	return m
}

// smallest is the smallest set of ids that holds every account matching
// q's filters: a filter's members, or every id.
func (x *accountIndex) smallest(q AccountQuery) *sortedStrings {
	best := &x.ids
	pick := func(s *sortedStrings) {
		if s == nil {
			s = &sortedStrings{}
		}
		if s.n < best.n {
			best = s
		}
	}
	if q.Status == "disabled" {
		pick(&x.disabled)
	}
	if q.Role != "" {
		pick(x.roles[q.Role])
	}
	if q.Org != "" {
		pick(x.orgs[q.Org])
	}
	if q.App != "" {
		pick(x.apps[q.App])
	}
	return best
}

// prefix calls fn with the id of every account one of whose name tokens
// starts with p (lower-cased already); an id may come more than once.
func (x *accountIndex) prefix(p string, fn func(id string) bool) {
	x.names.ascend(p, func(v string) bool {
		tok, id, _ := strings.Cut(v, "\x00")
		if !strings.HasPrefix(tok, p) {
			return false
		}
		return fn(id)
	})
}

// nameTokens are the searchable names of an account, lower-cased, sorted
// and unique: the whole display name, each of its words, the username.
func nameTokens(acc *Account) []string {
	var out []string
	if n := strings.ToLower(strings.TrimSpace(acc.DisplayName)); n != "" {
		out = append(out, n)
		if words := strings.Fields(n); len(words) > 1 {
			out = append(out, words...)
		}
	}
	if u := strings.ToLower(acc.Username); u != "" {
		out = append(out, u)
	}
	return uniq(out)
}

// uniq sorts v and drops repeats, in place.
func uniq(v []string) []string {
	slices.Sort(v)
	return slices.Compact(v)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sortedStrings is an ordered set of strings kept in blocks of at most
// maxBlock, so that an insert or a removal moves at most one block (a
// plain sorted slice would move half of 100k ids on every create).
type sortedStrings struct {
	blocks [][]string
	n      int
}

const maxBlock = 512

// find is the block that holds v or would: the first whose last element
// is not below v (the last block when v is beyond all).
func (s *sortedStrings) find(v string) int {
	i := sort.Search(len(s.blocks), func(i int) bool {
		b := s.blocks[i]
		return b[len(b)-1] >= v
	})
	if i == len(s.blocks) && i > 0 {
		i--
	}
	return i
}

func (s *sortedStrings) insert(v string) {
	if len(s.blocks) == 0 {
		s.blocks, s.n = [][]string{{v}}, 1
		return
	}
	bi := s.find(v)
	b := s.blocks[bi]
	i := sort.SearchStrings(b, v)
	if i < len(b) && b[i] == v {
		return
	}
	s.n++
	b = append(b, "")
	copy(b[i+1:], b[i:])
	b[i] = v
	if len(b) > maxBlock {
		half := len(b) / 2
		right := append([]string(nil), b[half:]...)
		left := b[:half:half]
		s.blocks = append(s.blocks, nil)
		copy(s.blocks[bi+2:], s.blocks[bi+1:])
		s.blocks[bi], s.blocks[bi+1] = left, right
		return
	}
	s.blocks[bi] = b
}

func (s *sortedStrings) remove(v string) {
	if len(s.blocks) == 0 {
		return
	}
	bi := s.find(v)
	b := s.blocks[bi]
	i := sort.SearchStrings(b, v)
	if i == len(b) || b[i] != v {
		return
	}
	s.n--
	b = append(b[:i], b[i+1:]...)
	if len(b) == 0 {
		s.blocks = append(s.blocks[:bi], s.blocks[bi+1:]...)
		return
	}
	s.blocks[bi] = b
}

// ascend calls fn with every element not below from, in order, until fn
// answers false.
func (s *sortedStrings) ascend(from string, fn func(string) bool) {
	if len(s.blocks) == 0 {
		return
	}
	bi := s.find(from)
	i := sort.SearchStrings(s.blocks[bi], from)
	for ; bi < len(s.blocks); bi, i = bi+1, 0 {
		for _, v := range s.blocks[bi][i:] {
			if !fn(v) {
				return
			}
		}
	}
}
