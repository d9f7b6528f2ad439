package projections

import (
	"slices"
)

type orgNode struct {
	id       string
	idx      int32
	defined  bool
	name     string
	parent   string
	children map[string]struct{}
	members  map[string]struct{}
	chain    []int32 // indexes of the org itself, its parent, …, its root
}

// Org is the read model of an organisation.
type Org struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Parent   string   `json:"parent,omitempty"`
	Path     []string `json:"path"`     // root … parent: the ancestors, outermost first
	Children []string `json:"children"` // sorted
	Members  []string `json:"members"`  // account ids, sorted
}

// Org returns a defined organisation, or false.
func (a *Authz) Org(id string) (Org, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	n := a.orgs[id]
	if n == nil || !n.defined {
		return Org{}, false
	}
	o := Org{ID: id, Name: n.name, Parent: n.parent, Path: []string{}, Children: sortedKeys(n.children), Members: sortedKeys(n.members)}
	for p := n.parent; p != "" && len(o.Path) <= len(a.orgs); {
		o.Path = append(o.Path, p)
		pn := a.orgs[p]
		if pn == nil {
			break
		}
		p = pn.parent
	}
	slices.Reverse(o.Path)
	return o, true
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// node returns the org's node, making a placeholder for an org not (yet)
// defined, so that grants and children can point at it.
func (a *Authz) node(id string) *orgNode {
	n := a.orgs[id]
	if n == nil {
		n = &orgNode{id: id, idx: a.next, children: map[string]struct{}{}, members: map[string]struct{}{}}
		n.chain = []int32{n.idx}
		a.next++
		a.orgs[id] = n
	}
	return n
}

// defineOrg sets an org's name and parent and, when the parent changed,
// recomputes the chains of the org and its whole subtree.
func (a *Authz) defineOrg(id, name, parent string, chains bool) {
	n := a.node(id)
	n.defined, n.name = true, name
	if n.parent == parent && len(n.chain) > 0 {
		return
	}
	if n.parent != "" {
		if old := a.orgs[n.parent]; old != nil {
			delete(old.children, id)
		}
	}
	n.parent = parent
	if parent != "" {
		a.node(parent).children[id] = struct{}{}
	}
	if chains {
		a.rechain(n)
	}
}

// rechain recomputes the ancestor chains of n's subtree.
func (a *Authz) rechain(n *orgNode) {
	stack := []*orgNode{n}
	seen := map[string]bool{}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[cur.id] {
			continue
		}
		seen[cur.id] = true
		a.setChain(cur)
		for c := range cur.children {
			if child := a.orgs[c]; child != nil {
				stack = append(stack, child)
			}
		}
	}
}

// setChain computes one org's chain. The walk is bounded by the number of
// orgs, so a cycle (which the commands never write) could not hang the view.
func (a *Authz) setChain(n *orgNode) {
	limit := len(a.orgs)
	n.chain = n.chain[:0]
	for p := n; p != nil && len(n.chain) < limit; p = a.orgs[p.parent] {
		n.chain = append(n.chain, p.idx)
		if p.parent == "" {
			break
		}
	}
}
