package projections

import (
	"encoding/json"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/bindery/bindery/events"
)

// OIDCClient is the read model of one registered OIDC client. The sealed
// secret is kept for the OpenID Provider but never rendered: reads show
// SecretSet.
type OIDCClient struct {
	ClientID               string    `json:"client_id"`
	Name                   string    `json:"name"`
	App                    string    `json:"app"`
	Type                   string    `json:"type"`
	SecretSet              bool      `json:"secret_set"`
	RedirectURIs           []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs []string  `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI   string    `json:"backchannel_logout_uri,omitempty"`
	GrantTypes             []string  `json:"grant_types"`
	Scopes                 []string  `json:"scopes"`
	CreatedAt              time.Time `json:"created_at"`
	UpdatedAt              time.Time `json:"updated_at"`

	// SecretSealed is the client secret sealed under the master key.
	SecretSealed string `json:"-"`
}

// OIDCClients is the view of registered OIDC clients.
type OIDCClients struct {
	mu    sync.RWMutex
	byID  map[string]*OIDCClient
	apply Dispatch // the view's own table, for Apply
}

// NewOIDCClients returns an empty view.
func NewOIDCClients() *OIDCClients {
	v := &OIDCClients{byID: map[string]*OIDCClient{}}
	v.apply = NewDispatch(v)
	return v
}

// Name implements Projection.
func (v *OIDCClients) Name() string { return "oidc_clients" }

// Reducers implements Projection: the OIDC client view's table.
func (v *OIDCClients) Reducers() []Reducer {
	return guarded(&v.mu, On(v.registered), On(v.updated), On(v.deleted))
}

// Apply reduces one record into the view (through its table).
func (v *OIDCClients) Apply(r events.Record) { v.apply.Apply(r) }

// The reducers run under v.mu (guarded). A stored *OIDCClient is
// replaced, never changed: readers hold the old value.

func (v *OIDCClients) registered(e events.OIDCClientRegistered, r events.Record) {
	at := r.Envelope.Time
	v.byID[e.ClientID] = &OIDCClient{
		ClientID: e.ClientID, Name: e.Name, App: e.App, Type: e.Type, SecretSet: e.SecretSealed != "",
		RedirectURIs: slices.Clone(e.RedirectURIs), PostLogoutRedirectURIs: orEmpty(e.PostLogoutRedirectURIs),
		BackchannelLogoutURI: e.BackchannelLogoutURI, GrantTypes: slices.Clone(e.GrantTypes), Scopes: slices.Clone(e.Scopes),
		CreatedAt: at, UpdatedAt: at, SecretSealed: e.SecretSealed,
	}
}

func (v *OIDCClients) updated(e events.OIDCClientUpdated, r events.Record) {
	c := v.byID[e.ClientID]
	if c == nil {
		return
	}
	next := *c
	next.Name, next.App, next.Type, next.UpdatedAt = e.Name, e.App, e.Type, r.Envelope.Time
	next.RedirectURIs, next.PostLogoutRedirectURIs = slices.Clone(e.RedirectURIs), orEmpty(e.PostLogoutRedirectURIs)
	next.BackchannelLogoutURI, next.GrantTypes, next.Scopes = e.BackchannelLogoutURI, slices.Clone(e.GrantTypes), slices.Clone(e.Scopes)
	switch {
	case e.Type == "public":
		next.SecretSealed, next.SecretSet = "", false
	case e.SecretSealed != "":
		next.SecretSealed, next.SecretSet = e.SecretSealed, true
	}
	v.byID[e.ClientID] = &next
}

func (v *OIDCClients) deleted(e events.OIDCClientDeleted, _ events.Record) {
	delete(v.byID, e.ClientID)
}

func orEmpty(list []string) []string {
	if list == nil {
		return []string{}
	}
	return slices.Clone(list)
}

// Get returns the client, or false.
func (v *OIDCClients) Get(id string) (OIDCClient, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	c, ok := v.byID[id]
	if !ok {
		return OIDCClient{}, false
	}
	return *c, true
}

// List returns every client, by client_id.
func (v *OIDCClients) List() []OIDCClient {
	v.mu.RLock()
	out := make([]OIDCClient, 0, len(v.byID))
	for _, c := range v.byID {
		out = append(out, *c)
	}
	v.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ClientID < out[j].ClientID })
	return out
}

// oidcClientSnapshot holds what the read model hides, so a restart keeps it.
type oidcClientSnapshot struct {
	OIDCClient
	SecretSealed string `json:"secret_sealed,omitempty"`
}

// Snapshot implements Projection: the clients by client_id.
func (v *OIDCClients) Snapshot() (json.RawMessage, error) {
	list := v.List()
	out := make([]oidcClientSnapshot, len(list))
	for i, c := range list {
		out[i] = oidcClientSnapshot{OIDCClient: c, SecretSealed: c.SecretSealed}
	}
	return json.Marshal(out)
}

// Restore implements Projection; nil resets the view.
func (v *OIDCClients) Restore(raw json.RawMessage) error {
	var list []oidcClientSnapshot
	if raw != nil {
		if err := json.Unmarshal(raw, &list); err != nil {
			return err
		}
	}
	byID := make(map[string]*OIDCClient, len(list))
	for _, s := range list {
		c := s.OIDCClient
		c.SecretSealed = s.SecretSealed
		byID[c.ClientID] = &c
	}
	v.mu.Lock()
	v.byID = byID
	v.mu.Unlock()
	return nil
}
