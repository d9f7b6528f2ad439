// Package oidcclient holds the OIDC client aggregate: a web app registered to
// sign its users in through Bindery's OpenID Provider (its type, sealed
// secret, exact redirect URIs, grant types and scopes). Pure: the secret
// arrives sealed.
package oidcclient

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// Client types.
const (
	Confidential = "confidential"
	Public       = "public"
)

// Grant types a client may be allowed.
const (
	GrantCode    = "authorization_code"
	GrantRefresh = "refresh_token"
	GrantDevice  = "urn:ietf:params:oauth:grant-type:device_code"
)

// Limits of a registration.
const (
	MinSecretLength = 16
	MaxSecretLength = 512
	MaxURIs         = 32
	MaxURILength    = 2048
	MaxNameLength   = 200
)

// Errors of the OIDC client aggregate.
var (
	ErrNotFound          = domain.New(domain.KindNotFound, "oidc_client_not_found", "no OIDC client with this client_id")
	ErrSecretRequired    = domain.New(domain.KindValidation, "validation_failed", "secret: required when a confidential client is registered")
	ErrSecretNotAllowed  = domain.New(domain.KindValidation, "validation_failed", "secret: a public client has no secret (it proves itself with PKCE)")
	ErrTypeChangeRefused = domain.New(domain.KindValidation, "validation_failed", "type: a public client cannot become confidential without a secret")
)

// DefaultGrantTypes are a client's grants when it names none.
var DefaultGrantTypes = []string{GrantCode, GrantRefresh}

// AllScopes are the scopes Bindery knows; a client names none and gets all.
var AllScopes = []string{"openid", "profile", "email", "phone", "offline_access", "roles"}

var (
	idPattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	appPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)
	grants     = []string{GrantCode, GrantRefresh, GrantDevice}
)

// ValidID reports whether s is a client_id: 1–128 of A-Z a-z 0-9 . _ -,
// starting with a letter or digit.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// Spec is what an administrator registers.
type Spec struct {
	Name                   string
	App                    string
	Type                   string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	BackchannelLogoutURI   string
	GrantTypes             []string
	Scopes                 []string
}

// Normalize checks the spec and returns it in canonical form: defaults
// filled in, lists sorted without duplicates. Every problem is reported.
func (s Spec) Normalize() (Spec, error) {
	var errs []string
	s.Name = strings.TrimSpace(s.Name)
	if s.Name == "" || len(s.Name) > MaxNameLength {
		errs = append(errs, "name: 1 to 200 characters")
	}
	if !appPattern.MatchString(s.App) {
		errs = append(errs, "app: the id of a registered mini-program app")
	}
	if s.Type != Confidential && s.Type != Public {
		errs = append(errs, `type: "confidential" or "public"`)
	}
	// A device-only client (a TV, a CLI) has no browser to send back.
	if len(s.RedirectURIs) == 0 && (len(s.GrantTypes) == 0 || slices.Contains(s.GrantTypes, GrantCode)) {
		errs = append(errs, "redirect_uris: at least one (for the authorization_code grant)")
	}
	check := func(field string, list []string) []string {
		if len(list) > MaxURIs {
			errs = append(errs, field+": at most 32")
			return nil
		}
		for _, u := range list {
			if msg := checkURI(u); msg != "" {
				errs = append(errs, field+": "+msg)
			}
		}
		return sorted(list)
	}
	s.RedirectURIs = check("redirect_uris", s.RedirectURIs)
	s.PostLogoutRedirectURIs = check("post_logout_redirect_uris", s.PostLogoutRedirectURIs)
	if s.BackchannelLogoutURI != "" {
		if msg := checkURI(s.BackchannelLogoutURI); msg != "" {
			errs = append(errs, "backchannel_logout_uri: "+msg)
		}
	}
	if len(s.GrantTypes) == 0 {
		s.GrantTypes = slices.Clone(DefaultGrantTypes)
	}
	for _, g := range s.GrantTypes {
		if !slices.Contains(grants, g) {
			errs = append(errs, "grant_types: "+quote(g)+" is not one of authorization_code, refresh_token, "+GrantDevice)
		}
	}
	s.GrantTypes = sorted(s.GrantTypes)
	if len(s.Scopes) == 0 {
		s.Scopes = slices.Clone(AllScopes)
	}
	for _, sc := range s.Scopes {
		if !slices.Contains(AllScopes, sc) {
			errs = append(errs, "scopes: "+quote(sc)+" is not one of "+strings.Join(AllScopes, " "))
		}
	}
	if !slices.Contains(s.Scopes, "openid") {
		errs = append(errs, "scopes: must include openid")
	}
	s.Scopes = sorted(s.Scopes)
	if len(errs) > 0 {
		return Spec{}, domain.Invalid("%s", strings.Join(errs, "; "))
	}
	return s, nil
}

func quote(s string) string { return `"` + s + `"` }

func sorted(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return slices.Compact(out)
}

// checkURI says what is wrong with a redirect URI, or "".
func checkURI(raw string) string {
	if len(raw) > MaxURILength {
		return "at most 2048 characters"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() == "":
		return quote(raw) + " is not an absolute URI"
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return quote(raw) + " must not have a fragment"
	case u.User != nil:
		return quote(raw) + " must not hold credentials"
	case u.Scheme == "http" && !loopback(u.Hostname()) && !strings.HasSuffix(u.Hostname(), ".localhost"):
		return quote(raw) + ": http only for loopback hosts; use https"
	case u.Scheme != "http" && u.Scheme != "https" && !strings.Contains(u.Scheme, "."):
		// A native app's private-use scheme is a reverse domain name (RFC 8252 §7.1,
		// com.example.app:/cb). Requiring the dot keeps out javascript:, data:, file:,
		// ftp: and the like, which no app registers to receive a code.
		return quote(raw) + ": scheme must be https, http on a loopback host, or a reverse-domain private-use scheme (com.example.app)"
	}
	return ""
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// ValidateSecret checks a client secret's length.
func ValidateSecret(s string) error {
	if len(s) < MinSecretLength || len(s) > MaxSecretLength {
		return domain.Invalid("secret: %d to %d characters", MinSecretLength, MaxSecretLength)
	}
	return nil
}

// Client is the state of one OIDC client aggregate.
type Client struct {
	id           string
	exists       bool
	spec         Spec
	secretSealed string
}

// New returns the empty state of the client with this id.
func New(id string) *Client { return &Client{id: id} }

// ID is the client_id.
func (c *Client) ID() string { return c.id }

// Exists reports whether the client is registered (and not deleted).
func (c *Client) Exists() bool { return c.exists }

// Spec is the current registration.
func (c *Client) Spec() Spec { return c.spec }

// SecretSealed is the sealed client secret ("" for a public client).
func (c *Client) SecretSealed() string { return c.secretSealed }

// Clone copies the state.
func (c *Client) Clone() *Client {
	n := *c
	n.spec = c.spec.clone()
	return &n
}

func (s Spec) clone() Spec {
	s.RedirectURIs = slices.Clone(s.RedirectURIs)
	s.PostLogoutRedirectURIs = slices.Clone(s.PostLogoutRedirectURIs)
	s.GrantTypes = slices.Clone(s.GrantTypes)
	s.Scopes = slices.Clone(s.Scopes)
	return s
}

func (s Spec) equal(o Spec) bool {
	return s.Name == o.Name && s.App == o.App && s.Type == o.Type && s.BackchannelLogoutURI == o.BackchannelLogoutURI &&
		slices.Equal(s.RedirectURIs, o.RedirectURIs) && slices.Equal(s.PostLogoutRedirectURIs, o.PostLogoutRedirectURIs) &&
		slices.Equal(s.GrantTypes, o.GrantTypes) && slices.Equal(s.Scopes, o.Scopes)
}

// Apply folds one event into the state.
func (c *Client) Apply(r events.Record) {
	switch e := r.Event.(type) {
	case events.OIDCClientRegistered:
		c.exists, c.secretSealed = true, e.SecretSealed
		c.spec = Spec{Name: e.Name, App: e.App, Type: e.Type, RedirectURIs: e.RedirectURIs,
			PostLogoutRedirectURIs: e.PostLogoutRedirectURIs, BackchannelLogoutURI: e.BackchannelLogoutURI,
			GrantTypes: e.GrantTypes, Scopes: e.Scopes}.clone()
	case events.OIDCClientUpdated:
		c.spec = Spec{Name: e.Name, App: e.App, Type: e.Type, RedirectURIs: e.RedirectURIs,
			PostLogoutRedirectURIs: e.PostLogoutRedirectURIs, BackchannelLogoutURI: e.BackchannelLogoutURI,
			GrantTypes: e.GrantTypes, Scopes: e.Scopes}.clone()
		switch {
		case e.Type == Public:
			c.secretSealed = ""
		case e.SecretSealed != "":
			c.secretSealed = e.SecretSealed
		}
	case events.OIDCClientDeleted:
		*c = Client{id: c.id}
	}
}

// Folds implements domain.Folder: the events Apply folds.
func (*Client) Folds() []events.Event {
	return []events.Event{events.OIDCClientRegistered{}, events.OIDCClientUpdated{}, events.OIDCClientDeleted{}}
}

// Put registers the client or replaces its registration. spec must be
// normalized; secretSealed is a new sealed secret or "" to keep the current
// one. A confidential client needs a secret, a public one must have none.
// Putting what is already there records nothing, so a PUT can be repeated.
func (c *Client) Put(spec Spec, secretSealed string) ([]events.Event, error) {
	if spec.Type == Public && secretSealed != "" {
		return nil, ErrSecretNotAllowed
	}
	if spec.Type == Confidential && secretSealed == "" && c.secretSealed == "" {
		if c.exists {
			return nil, ErrTypeChangeRefused
		}
		return nil, ErrSecretRequired
	}
	if !c.exists {
		return []events.Event{events.OIDCClientRegistered{
			ClientID: c.id, Name: spec.Name, App: spec.App, Type: spec.Type, SecretSealed: secretSealed,
			RedirectURIs: spec.RedirectURIs, PostLogoutRedirectURIs: spec.PostLogoutRedirectURIs,
			BackchannelLogoutURI: spec.BackchannelLogoutURI, GrantTypes: spec.GrantTypes, Scopes: spec.Scopes,
		}}, nil
	}
	if secretSealed == "" && spec.equal(c.spec) {
		return nil, nil
	}
	return []events.Event{events.OIDCClientUpdated{
		ClientID: c.id, Name: spec.Name, App: spec.App, Type: spec.Type, SecretSealed: secretSealed,
		RedirectURIs: spec.RedirectURIs, PostLogoutRedirectURIs: spec.PostLogoutRedirectURIs,
		BackchannelLogoutURI: spec.BackchannelLogoutURI, GrantTypes: spec.GrantTypes, Scopes: spec.Scopes,
	}}, nil
}

// Delete removes the registration.
func (c *Client) Delete() ([]events.Event, error) {
	if !c.exists {
		return nil, ErrNotFound
	}
	return []events.Event{events.OIDCClientDeleted{ClientID: c.id}}, nil
}
