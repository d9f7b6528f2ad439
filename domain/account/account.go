// Package account holds the account aggregate: its state, folded from
// events, and the decisions that produce new events. No I/O here.
package account

import (
	"maps"
	"net/mail"
	"regexp"
	"strings"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// Status of an account.
const (
	StatusActive   = "active"
	StatusDisabled = "disabled"
)

// Errors of the account aggregate.
var (
	ErrNotFound      = domain.New(domain.KindNotFound, "not_found", "account not found")
	ErrAlreadyExists = domain.New(domain.KindConflict, "conflict", "account already exists")
	ErrDisabled      = domain.New(domain.KindForbidden, "account_disabled", "account is disabled")
)

// Account is the state of one account aggregate.
type Account struct {
	id             string
	exists         bool
	status         string
	ids            events.Identifiers
	displayName    string
	avatarURL      string
	passwordSealed string
	attributes     map[string]any
	bindings       map[string]events.BoundIdentity // by binding id (bindings.go)
}

// New returns the empty state of the account with this id.
func New(id string) *Account { return &Account{id: id} }

// ID is the account's id.
func (a *Account) ID() string { return a.id }

// Exists reports whether the account was created.
func (a *Account) Exists() bool { return a.exists }

// Status is active, disabled or erased.
func (a *Account) Status() string { return a.status }

// Identifiers are the account's unique values.
func (a *Account) Identifiers() events.Identifiers { return a.ids }

// DisplayName is the account's display name.
func (a *Account) DisplayName() string { return a.displayName }

// PasswordSealed is the sealed argon2id hash, "" when no password is set.
func (a *Account) PasswordSealed() string { return a.passwordSealed }

// Clone copies the state.
func (a *Account) Clone() *Account {
	c := *a
	c.attributes = maps.Clone(a.attributes)
	c.bindings = maps.Clone(a.bindings)
	return &c
}

// Apply folds one event into the state.
func (a *Account) Apply(r events.Record) {
	switch e := r.Event.(type) {
	case events.AccountCreated:
		a.exists, a.status = true, StatusActive
		a.ids = events.Identifiers{ExternalID: e.ExternalID, Username: e.Username, Phone: e.Phone, Email: e.Email}
		a.displayName, a.avatarURL, a.passwordSealed = e.DisplayName, e.AvatarURL, e.PasswordSealed
		a.attributes = maps.Clone(e.Attributes)
	case events.AccountUpdated:
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&a.ids.ExternalID, e.ExternalID)
		set(&a.ids.Username, e.Username)
		set(&a.ids.Phone, e.Phone)
		set(&a.ids.Email, e.Email)
		set(&a.displayName, e.DisplayName)
		set(&a.avatarURL, e.AvatarURL)
		if e.Attributes != nil {
			a.attributes = maps.Clone(e.Attributes)
		}
		if e.PasswordChanged {
			a.passwordSealed = e.PasswordSealed
		}
	case events.AccountDisabled:
		a.status = StatusDisabled
	case events.AccountEnabled:
		a.status = StatusActive
	case events.AccountErased:
		a.erased()
	default:
		a.applyBinding(r.Event)
	}
}

// Folds implements domain.Folder: the events Apply folds.
func (*Account) Folds() []events.Event {
	return []events.Event{
		events.AccountCreated{}, events.AccountUpdated{}, events.AccountDisabled{}, events.AccountEnabled{}, events.AccountErased{},
		events.IdentityBound{}, events.IdentityUnbound{}, events.AttributesBackfilled{},
	}
}

// Profile is what an account is created or synced with. Values are
// normalised by Normalize before a decision uses them.
type Profile struct {
	ExternalID  string
	Username    string
	DisplayName string
	AvatarURL   string
	Phone       string
	Email       string
	Attributes  map[string]any
}

// Normalize validates and canonicalises a profile: phone in E.164, email
// lower-cased, username checked.
func (p Profile) Normalize() (Profile, error) {
	var err error
	if p.Phone, err = NormalizePhone(p.Phone); err != nil {
		return p, err
	}
	if p.Email, err = NormalizeEmail(p.Email); err != nil {
		return p, err
	}
	if p.Username, err = NormalizeUsername(p.Username); err != nil {
		return p, err
	}
	if len(p.ExternalID) > 256 || strings.ContainsAny(p.ExternalID, "\x00\n\r") {
		return p, domain.Invalid("external_id: at most 256 characters, one line")
	}
	if len(p.DisplayName) > 256 {
		return p, domain.Invalid("display_name: at most 256 characters")
	}
	if p.AvatarURL != "" && !strings.HasPrefix(p.AvatarURL, "https://") && !strings.HasPrefix(p.AvatarURL, "http://") {
		return p, domain.Invalid("avatar_url: must be an http(s) URL")
	}
	if len(p.AvatarURL) > 2048 {
		return p, domain.Invalid("avatar_url: at most 2048 characters")
	}
	if len(p.Attributes) > 64 {
		return p, domain.Invalid("attributes: at most 64 keys")
	}
	return p, nil
}

var (
	// phoneSeparators is built once: a Replacer builds its tables on first
	// use, and bulk sync normalises a phone per line.
	phoneSeparators = strings.NewReplacer(" ", "", "-", "")
	e164            = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	username        = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@-]{1,63}$`)
)

// NormalizePhone accepts E.164 ("+8613800138000"), allowing spaces and
// dashes; "" stays "".
func NormalizePhone(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	s = phoneSeparators.Replace(s)
	if !e164.MatchString(s) {
		return "", domain.Invalid("phone: must be E.164, like +8613800138000")
	}
	return s, nil
}

// NormalizeEmail lower-cases and checks an address; "" stays "".
func NormalizeEmail(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || len(s) > 254 {
		return "", domain.Invalid("email: not a valid address")
	}
	return strings.ToLower(s), nil
}

// NormalizeUsername checks a username (2–64 of letters, digits, . _ @ -).
// Case is kept for display; uniqueness ignores it.
func NormalizeUsername(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if !username.MatchString(s) {
		return "", domain.Invalid("username: 2-64 letters, digits or . _ @ -, starting with a letter or digit")
	}
	return s, nil
}

// Create decides the creation of the account from a normalised profile.
func (a *Account) Create(p Profile, passwordSealed, source string) ([]events.Event, error) {
	if a.exists {
		return nil, ErrAlreadyExists
	}
	return []events.Event{events.AccountCreated{
		AccountID: a.id, ExternalID: p.ExternalID, Username: p.Username, DisplayName: p.DisplayName,
		AvatarURL: p.AvatarURL, Phone: p.Phone, Email: p.Email, PasswordSealed: passwordSealed,
		Attributes: p.Attributes, Source: source,
	}}, nil
}

// Patch is a partial update; nil fields stay as they are.
type Patch struct {
	ExternalID, Username, DisplayName, AvatarURL, Phone, Email *string
	Attributes                                                 map[string]any
	PasswordSealed                                             *string
	Status                                                     *string
}

// Update decides an update; it returns no events when nothing changes.
func (a *Account) Update(p Patch, source string) ([]events.Event, error) {
	if err := a.usable(); err != nil {
		return nil, err
	}
	e := events.AccountUpdated{AccountID: a.id, Source: source}
	changed := false
	diff := func(dst **string, v *string, cur string, prev *string) {
		if v != nil && *v != cur {
			*dst, changed = v, true
			if prev != nil {
				*prev = cur
			}
		}
	}
	diff(&e.ExternalID, p.ExternalID, a.ids.ExternalID, &e.Previous.ExternalID)
	diff(&e.Username, p.Username, a.ids.Username, &e.Previous.Username)
	diff(&e.Phone, p.Phone, a.ids.Phone, &e.Previous.Phone)
	diff(&e.Email, p.Email, a.ids.Email, &e.Previous.Email)
	diff(&e.DisplayName, p.DisplayName, a.displayName, nil)
	diff(&e.AvatarURL, p.AvatarURL, a.avatarURL, nil)
	if p.Attributes != nil && !attributesEqual(p.Attributes, a.attributes) {
		e.Attributes, changed = p.Attributes, true
	}
	if p.PasswordSealed != nil {
		e.PasswordSealed, e.PasswordChanged, changed = *p.PasswordSealed, true, true
	}
	var out []events.Event
	if changed {
		out = append(out, e)
	}
	if p.Status != nil {
		switch *p.Status {
		case a.status:
		case StatusDisabled:
			out = append(out, events.AccountDisabled{AccountID: a.id})
		case StatusActive:
			out = append(out, events.AccountEnabled{AccountID: a.id})
		default:
			return nil, domain.Invalid("status: active or disabled")
		}
	}
	return out, nil
}

// Disable decides disabling; disabling a disabled account changes nothing.
func (a *Account) Disable(reason string) ([]events.Event, error) {
	if !a.exists {
		return nil, ErrNotFound
	}
	if a.status == StatusDisabled || a.status == StatusErased {
		return nil, nil // an erased account is blocked for good
	}
	return []events.Event{events.AccountDisabled{AccountID: a.id, Reason: reason}}, nil
}

// Enable decides re-enabling; enabling an active account changes nothing.
func (a *Account) Enable() ([]events.Event, error) {
	if err := a.usable(); err != nil {
		return nil, err
	}
	if a.status != StatusDisabled {
		return nil, nil
	}
	return []events.Event{events.AccountEnabled{AccountID: a.id}}, nil
}

func attributesEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !jsonEqual(v, w) {
			return false
		}
	}
	return true
}
