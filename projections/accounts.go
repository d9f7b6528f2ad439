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

// Account is the read model of one account. Every field but the id, the
// status, the times, the roles and the orgs is personal: an erased account
// keeps none of them (accounts_erase.go).
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

	apply Dispatch     // the view's own table, for Apply
	idx   accountIndex // accounts_index.go: paging, name search, filters
	// erasedSince counts the account_erased applied since the view was
	// restored: a snapshot taken before them still holds those persons
	// (accounts_erase.go).
	erasedSince int
}

// NewAccounts returns an empty view.
func NewAccounts() *Accounts {
	a := &Accounts{}
	a.reset()
	a.apply = NewDispatch(a)
	return a
}

func (a *Accounts) reset() {
	a.byID = map[string]*Account{}
	a.byUsername = map[string]string{}
	a.byPhone = map[string]string{}
	a.byEmail = map[string]string{}
	a.byExternal = map[string]string{}
	a.idx = accountIndex{}
	a.erasedSince = 0
}

// Name implements Projection.
func (a *Accounts) Name() string { return "accounts" }

// Reducers implements Projection: the account view's table. Every reducer
// but account_created changes an existing account, so it is declared with
// onAccount, which hands it a copy: a stored *Account is never changed in
// place, and a snapshot can hold the pointers and encode them without the
// lock (Capture).
func (a *Accounts) Reducers() []Reducer {
	return guarded(&a.mu,
		On(a.created),
		onAccount(a, func(e events.AccountUpdated) string { return e.AccountID }, a.updated),
		onAccount(a, func(e events.AccountDisabled) string { return e.AccountID }, disabled),
		onAccount(a, func(e events.AccountEnabled) string { return e.AccountID }, enabled),
		onAccount(a, func(e events.AccountErased) string { return e.AccountID }, a.erased),
		onAccount(a, func(e events.IdentityBound) string { return e.AccountID }, bound),
		onAccount(a, func(e events.IdentityUnbound) string { return e.AccountID }, unbound),
		onAccount(a, func(e events.AttributesBackfilled) string { return e.AccountID }, a.backfilled),
		onAccount(a, func(e events.RoleGranted) string { return e.AccountID }, granted),
		onAccount(a, func(e events.RoleRevoked) string { return e.AccountID }, revoked),
		onAccount(a, func(e events.OrgMemberAdded) string { return e.AccountID }, joined),
		onAccount(a, func(e events.OrgMemberRemoved) string { return e.AccountID }, left),
	)
}

// Apply reduces one record into the view (through its table).
func (a *Accounts) Apply(r events.Record) { a.apply.Apply(r) }

// onAccount is the reducer of an event that changes the existing account
// id names: change gets a copy, which then replaces the stored account.
// An event for an account the view does not hold changes nothing.
func onAccount[E events.Event](a *Accounts, id func(E) string, change func(*Account, E, time.Time)) Reducer {
	return On(func(e E, r events.Record) {
		cur := a.byID[id(e)]
		if cur == nil {
			return
		}
		next := cur.copy()
		change(&next, e, r.Envelope.Time)
		a.byID[next.ID] = &next
		a.idx.update(cur, &next)
	})
}

func (a *Accounts) created(e events.AccountCreated, r events.Record) {
	at := r.Envelope.Time
	acc := &Account{
		ID: e.AccountID, DisplayName: e.DisplayName, AvatarURL: e.AvatarURL,
		HasPassword: e.PasswordSealed != "", Status: "active", Attributes: e.Attributes,
		CreatedAt: at, UpdatedAt: at,
	}
	old := a.byID[e.AccountID]
	a.byID[e.AccountID] = acc
	a.setIDs(acc, e.ExternalID, e.Username, e.Phone, e.Email)
	a.idx.update(old, acc)
}

func (a *Accounts) updated(acc *Account, e events.AccountUpdated, at time.Time) {
	pick := func(cur string, v *string) string {
		if v != nil {
			return *v
		}
		return cur
	}
	a.setIDs(acc, pick(acc.ExternalID, e.ExternalID), pick(acc.Username, e.Username), pick(acc.Phone, e.Phone), pick(acc.Email, e.Email))
	acc.DisplayName = pick(acc.DisplayName, e.DisplayName)
	acc.AvatarURL = pick(acc.AvatarURL, e.AvatarURL)
	if e.Attributes != nil {
		acc.Attributes = e.Attributes
	}
	if e.PasswordChanged {
		acc.HasPassword = e.PasswordSealed != ""
	}
	acc.UpdatedAt = at
}

func disabled(acc *Account, _ events.AccountDisabled, at time.Time) {
	acc.Status, acc.UpdatedAt = "disabled", at
}

func enabled(acc *Account, _ events.AccountEnabled, at time.Time) {
	acc.Status, acc.UpdatedAt = "active", at
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
		a.idx.update(nil, acc)
	}
	return nil
}
