package projections

import (
	"strings"
)

type scopedSet struct {
	org int32
	set *permSet
}

// permSet is a union of permissions as bitsets over the view's interned
// ids.
type permSet struct {
	all   bool   // "*"
	perms bitset // concrete "resource:action"
	res   bitset // "resource:*"
	acts  bitset // "*:action"
}

type bitset []uint64

func (b bitset) has(i uint32) bool {
	w := i >> 6
	return int(w) < len(b) && b[w]&(1<<(i&63)) != 0
}

func (b *bitset) set(i uint32) {
	w := int(i >> 6)
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	(*b)[w] |= 1 << (i & 63)
}

// query is a check's permission as interned ids; ok flags say whether any
// role ever held that permission, resource wildcard or action wildcard.
type query struct {
	perm, res, act       uint32
	permOK, resOK, actOK bool
}

func (p *permSet) allows(q *query) bool {
	return p.all || (q.permOK && p.perms.has(q.perm)) || (q.resOK && p.res.has(q.res)) || (q.actOK && p.acts.has(q.act))
}

func intern(ids map[string]uint32, s string) uint32 {
	id, ok := ids[s]
	if !ok {
		id = uint32(len(ids))
		ids[s] = id
	}
	return id
}

// add puts one canonical permission into the set. Callers hold a.mu.
func (a *Authz) add(p *permSet, perm string) {
	res, act, ok := strings.Cut(perm, ":")
	switch {
	case perm == "*" || (res == "*" && act == "*"):
		p.all = true
	case !ok:
	case res == "*":
		p.acts.set(intern(a.actIDs, act))
	case act == "*":
		p.res.set(intern(a.resIDs, res))
	default:
		p.perms.set(intern(a.permIDs, perm))
	}
}

// compile rebuilds the subject's permission sets from its grants.
func (a *Authz) compile(s *subject) {
	if s == nil {
		return
	}
	s.global, s.scoped = nil, nil
	byOrg := map[string]*permSet{}
	for g := range s.grants {
		ps := byOrg[g.Org]
		if ps == nil {
			ps = &permSet{}
			byOrg[g.Org] = ps
		}
		if re := a.roles[g.Role]; re != nil {
			for _, p := range re.perms {
				a.add(ps, p)
			}
		}
	}
	for org, ps := range byOrg {
		if org == "" {
			s.global = ps
			continue
		}
		s.scoped = append(s.scoped, scopedSet{org: a.node(org).idx, set: ps})
	}
}
