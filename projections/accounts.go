package projections

import (
	"encoding/json"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	fastjson "github.com/goccy/go-json"

	"github.com/bindery/bindery/events"
)

// Account is the read model of one account.
type Account struct {
	ID          string         `json:"id"`
	ExternalID  string         `json:"external_id,omitempty"`
	Username    string         `json:"username,omitempty"`
	DisplayName string         `json:"display_name,omitempty"`
	AvatarURL   string         `json:"avatar_url,omitempty"`
	Phone       string         `json:"phone,omitempty"`
	Email       string         `json:"email,omitempty"`
	HasPassword bool           `json:"has_password"`
	Status      string         `json:"status"`
	Attributes  map[string]any `json:"attributes,omitempty"`
	Bindings    []Binding      `json:"bindings"`
	Roles       []RoleGrant    `json:"roles"`
	Orgs        []string       `json:"orgs"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

// Binding is an identity bound to an account.
type Binding struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"` // openid, unionid, host_uid
	App     string    `json:"app,omitempty"`
	Subject string    `json:"subject"`
	BoundAt time.Time `json:"bound_at"`
}

// RoleGrant is a role held by an account, optionally within an org.
type RoleGrant struct {
	Role string `json:"role"`
	Org  string `json:"org,omitempty"`
}

// Accounts is the account view with its lookup indexes.
type Accounts struct {
	mu         sync.RWMutex
	byID       map[string]*Account
	byUsername map[string]string // lower-cased
	byPhone    map[string]string
	byEmail    map[string]string
	byExternal map[string]string
}

// NewAccounts returns an empty view.
func NewAccounts() *Accounts {
	a := &Accounts{}
	a.reset()
	return a
}

func (a *Accounts) reset() {
	a.byID = map[string]*Account{}
	a.byUsername = map[string]string{}
	a.byPhone = map[string]string{}
	a.byEmail = map[string]string{}
	a.byExternal = map[string]string{}
}

// Name implements Projection.
func (a *Accounts) Name() string { return "accounts" }

// Apply implements Projection.
func (a *Accounts) Apply(r events.Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at := r.Envelope.Time
	// Copy on write: a stored *Account is never changed in place, so a
	// snapshot can hold the pointers and encode them without the lock.
	if id := accountOf(r.Event); id != "" {
		if acc := a.byID[id]; acc != nil {
			cp := acc.copy()
			a.byID[id] = &cp
		}
	}
	switch e := r.Event.(type) {
	case events.AccountCreated:
		acc := &Account{
			ID: e.AccountID, DisplayName: e.DisplayName, AvatarURL: e.AvatarURL,
			HasPassword: e.PasswordSealed != "", Status: "active", Attributes: e.Attributes,
			CreatedAt: at, UpdatedAt: at,
		}
		a.byID[e.AccountID] = acc
		a.setIDs(acc, e.ExternalID, e.Username, e.Phone, e.Email)
	case events.AccountUpdated:
		acc := a.byID[e.AccountID]
		if acc == nil {
			return
		}
		ext, user, phone, email := acc.ExternalID, acc.Username, acc.Phone, acc.Email
		pick := func(cur string, v *string) string {
			if v != nil {
				return *v
			}
			return cur
		}
		a.setIDs(acc, pick(ext, e.ExternalID), pick(user, e.Username), pick(phone, e.Phone), pick(email, e.Email))
		acc.DisplayName = pick(acc.DisplayName, e.DisplayName)
		acc.AvatarURL = pick(acc.AvatarURL, e.AvatarURL)
		if e.Attributes != nil {
			acc.Attributes = e.Attributes
		}
		if e.PasswordChanged {
			acc.HasPassword = e.PasswordSealed != ""
		}
		acc.UpdatedAt = at
	case events.AccountDisabled:
		if acc := a.byID[e.AccountID]; acc != nil {
			acc.Status, acc.UpdatedAt = "disabled", at
		}
	case events.AccountEnabled:
		if acc := a.byID[e.AccountID]; acc != nil {
			acc.Status, acc.UpdatedAt = "active", at
		}
	case events.IdentityBound, events.IdentityUnbound, events.AttributesBackfilled:
		a.applyBinding(e, at) // accounts_bindings.go
	case events.RoleGranted, events.RoleRevoked, events.OrgMemberAdded, events.OrgMemberRemoved:
		a.applyAuthz(e, at) // accounts_authz.go
	}
}

// setIDs moves the account's index entries to the new values.
func (a *Accounts) setIDs(acc *Account, ext, user, phone, email string) {
	move := func(idx map[string]string, old, now string) {
		if old == now {
			if now != "" {
				idx[now] = acc.ID
			}
			return
		}
		if old != "" && idx[old] == acc.ID {
			delete(idx, old)
		}
		if now != "" {
			idx[now] = acc.ID
		}
	}
	move(a.byExternal, acc.ExternalID, ext)
	move(a.byUsername, strings.ToLower(acc.Username), strings.ToLower(user))
	move(a.byPhone, acc.Phone, phone)
	move(a.byEmail, acc.Email, email)
	acc.ExternalID, acc.Username, acc.Phone, acc.Email = ext, user, phone, email
}

// Get returns a copy of the account, or false.
func (a *Accounts) Get(id string) (Account, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	acc, ok := a.byID[id]
	if !ok {
		return Account{}, false
	}
	return acc.copy(), true
}

func (acc *Account) copy() Account {
	c := *acc
	c.Attributes = maps.Clone(acc.Attributes)
	c.Bindings = append([]Binding{}, acc.Bindings...)
	c.Roles = append([]RoleGrant{}, acc.Roles...)
	c.Orgs = append([]string{}, acc.Orgs...)
	return c
}

// Lookup finds an account id by one identifier kind.
func (a *Accounts) Lookup(kind, value string) (string, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var idx map[string]string
	switch kind {
	case events.ClaimUsername:
		idx, value = a.byUsername, strings.ToLower(value)
	case events.ClaimPhone:
		idx = a.byPhone
	case events.ClaimEmail:
		idx, value = a.byEmail, strings.ToLower(value)
	case events.ClaimExternalID:
		idx = a.byExternal
	default:
		return "", false
	}
	id, ok := idx[value]
	return id, ok
}

// Count is the number of accounts.
func (a *Accounts) Count() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.byID)
}

// IDs lists account ids in order, for paging.
func (a *Accounts) IDs() []string {
	a.mu.RLock()
	ids := make([]string, 0, len(a.byID))
	for id := range a.byID {
		ids = append(ids, id)
	}
	a.mu.RUnlock()
	sort.Strings(ids)
	return ids
}

// accountOf names the existing account an event changes. Every event that
// changes an account in place must be listed, for copy-on-write.
func accountOf(ev events.Event) string {
	switch e := ev.(type) {
	case events.AccountUpdated:
		return e.AccountID
	case events.AccountDisabled:
		return e.AccountID
	case events.AccountEnabled:
		return e.AccountID
	case events.IdentityBound:
		return e.AccountID
	case events.IdentityUnbound:
		return e.AccountID
	case events.AttributesBackfilled:
		return e.AccountID
	case events.RoleGranted:
		return e.AccountID
	case events.RoleRevoked:
		return e.AccountID
	case events.OrgMemberAdded:
		return e.AccountID
	case events.OrgMemberRemoved:
		return e.AccountID
	}
	return ""
}

// Snapshot implements Projection.
func (a *Accounts) Snapshot() (json.RawMessage, error) { return a.Capture()() }

// Capture implements Capturer: it takes the account pointers under the
// lock (stored accounts are immutable) and encodes them afterwards, so
// that a snapshot of a large view does not stall the projection.
func (a *Accounts) Capture() func() (json.RawMessage, error) {
	a.mu.RLock()
	list := make([]*Account, 0, len(a.byID))
	for _, acc := range a.byID {
		list = append(list, acc)
	}
	a.mu.RUnlock()
	return func() (json.RawMessage, error) {
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
		return fastjson.Marshal(list)
	}
}

// Restore implements Projection.
func (a *Accounts) Restore(raw json.RawMessage) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reset()
	if raw == nil {
		return nil
	}
	var list []*Account
	if err := fastjson.Unmarshal(raw, &list); err != nil {
		return err
	}
	for _, acc := range list {
		ids := [4]string{acc.ExternalID, acc.Username, acc.Phone, acc.Email}
		acc.ExternalID, acc.Username, acc.Phone, acc.Email = "", "", "", ""
		a.byID[acc.ID] = acc
		a.setIDs(acc, ids[0], ids[1], ids[2], ids[3])
	}
	return nil
}
