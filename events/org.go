package events

// OrgAggregateID is the aggregate id of an organisation: its id with every "."
// written as "~" (see RoleAggregateID).
func OrgAggregateID(id string) string { return RoleAggregateID(id) }

// OrgID reverses OrgAggregateID.
func OrgID(aggregateID string) string { return RoleName(aggregateID) }

// OrgTreeID is the aggregate (org/_tree) through which every change of the
// organisation tree's shape passes. Org ids start with a letter or digit, so
// it can never name a real organisation.
const OrgTreeID = "_tree"

// OrgDefined: an organisation was created, renamed or moved (aggregate
// org/<id>). It always carries the whole state: Parent "" is a root.
type OrgDefined struct {
	OrgID  string `json:"org_id"`
	Name   string `json:"name"`
	Parent string `json:"parent,omitempty"`
}

func (OrgDefined) EventName() string { return "org_defined" }

// OrgPlaced: an organisation took its place in the tree, at creation or on
// a move (aggregate org/_tree). It is written atomically with the
// OrgDefined that does it, expecting the tree's last sequence, so two
// concurrent moves on any replicas cannot together build a cycle: the tree
// is decided on strongly consistent state.
type OrgPlaced struct {
	OrgID  string `json:"org_id"`
	Parent string `json:"parent,omitempty"`
}

func (OrgPlaced) EventName() string { return "org_placed" }

// OrgMemberAdded: an account became a member of an organisation (aggregate
// org/<id>).
type OrgMemberAdded struct {
	OrgID     string `json:"org_id"`
	AccountID string `json:"account_id"`
}

func (OrgMemberAdded) EventName() string { return "org_member_added" }

// OrgMemberRemoved: an account stopped being a member (aggregate org/<id>).
type OrgMemberRemoved struct {
	OrgID     string `json:"org_id"`
	AccountID string `json:"account_id"`
}

func (OrgMemberRemoved) EventName() string { return "org_member_removed" }
