package events

import "strings"

// Claim kinds: the values that belong to at most one account.
const (
	ClaimUsername   = "username"
	ClaimPhone      = "phone"
	ClaimEmail      = "email"
	ClaimExternalID = "external_id"
	ClaimOpenID     = "openid"  // value: app + "|" + openid
	ClaimUnionID    = "unionid" // value: unionid
	ClaimHostUID    = "host_uid"
)

// AccountCreated: an account came into being (admin API, registration,
// sync or verification, as Source says). PasswordSealed is the argon2id hash
// sealed under the master key, never a password.
type AccountCreated struct {
	AccountID      string         `json:"account_id"`
	ExternalID     string         `json:"external_id,omitempty"`
	Username       string         `json:"username,omitempty"`
	DisplayName    string         `json:"display_name,omitempty"`
	AvatarURL      string         `json:"avatar_url,omitempty"`
	Phone          string         `json:"phone,omitempty"`
	Email          string         `json:"email,omitempty"`
	PasswordSealed string         `json:"password_sealed,omitempty"`
	Attributes     map[string]any `json:"attributes,omitempty"`
	Source         string         `json:"source,omitempty"`
}

func (AccountCreated) EventName() string { return "account_created" }

// UniqueConstraints claims every identifier the account starts with.
func (e AccountCreated) UniqueConstraints() []Constraint {
	return claims(e.AccountID, Identifiers{e.ExternalID, e.Username, e.Phone, e.Email}, Identifiers{})
}

// Identifiers are an account's unique profile values.
type Identifiers struct {
	ExternalID string `json:"external_id,omitempty"`
	Username   string `json:"username,omitempty"`
	Phone      string `json:"phone,omitempty"`
	Email      string `json:"email,omitempty"`
}

// claims adds the new values and releases the replaced ones.
func claims(owner string, now, before Identifiers) []Constraint {
	var cs []Constraint
	pair := func(kind, n, b string) {
		if n == b {
			return
		}
		if b != "" {
			cs = append(cs, Constraint{Kind: kind, Value: b, Owner: owner, Release: true})
		}
		if n != "" {
			cs = append(cs, Constraint{Kind: kind, Value: n, Owner: owner})
		}
	}
	pair(ClaimExternalID, now.ExternalID, before.ExternalID)
	pair(ClaimUsername, strings.ToLower(now.Username), strings.ToLower(before.Username))
	pair(ClaimPhone, now.Phone, before.Phone)
	pair(ClaimEmail, now.Email, before.Email)
	return cs
}

// AccountUpdated: profile fields changed. Nil fields did not change;
// Previous holds the identifiers that were replaced, so their claims are
// released with this event.
type AccountUpdated struct {
	AccountID       string         `json:"account_id"`
	ExternalID      *string        `json:"external_id,omitempty"`
	Username        *string        `json:"username,omitempty"`
	DisplayName     *string        `json:"display_name,omitempty"`
	AvatarURL       *string        `json:"avatar_url,omitempty"`
	Phone           *string        `json:"phone,omitempty"`
	Email           *string        `json:"email,omitempty"`
	Attributes      map[string]any `json:"attributes,omitempty"`
	PasswordSealed  string         `json:"password_sealed,omitempty"`
	PasswordChanged bool           `json:"password_changed,omitempty"`
	Previous        Identifiers    `json:"previous,omitzero"`
	Source          string         `json:"source,omitempty"`
}

func (AccountUpdated) EventName() string { return "account_updated" }

// UniqueConstraints claims changed identifiers and releases the old ones.
func (e AccountUpdated) UniqueConstraints() []Constraint {
	now := e.Previous
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&now.ExternalID, e.ExternalID)
	set(&now.Username, e.Username)
	set(&now.Phone, e.Phone)
	set(&now.Email, e.Email)
	// Only the fields this event changed take part.
	var changedNow, changedBefore Identifiers
	if e.ExternalID != nil {
		changedNow.ExternalID, changedBefore.ExternalID = now.ExternalID, e.Previous.ExternalID
	}
	if e.Username != nil {
		changedNow.Username, changedBefore.Username = now.Username, e.Previous.Username
	}
	if e.Phone != nil {
		changedNow.Phone, changedBefore.Phone = now.Phone, e.Previous.Phone
	}
	if e.Email != nil {
		changedNow.Email, changedBefore.Email = now.Email, e.Previous.Email
	}
	return claims(e.AccountID, changedNow, changedBefore)
}

// AccountDisabled: the account may no longer log in.
type AccountDisabled struct {
	AccountID string `json:"account_id"`
	Reason    string `json:"reason,omitempty"`
}

func (AccountDisabled) EventName() string { return "account_disabled" }

// AccountEnabled: a disabled account may log in again.
type AccountEnabled struct {
	AccountID string `json:"account_id"`
}

func (AccountEnabled) EventName() string { return "account_enabled" }

// AccountErasedName is AccountErased's name, for subject filters (the
// erasure reconciler's, the public relay's).
const AccountErasedName = "account_erased"

// AccountErased: the account's person was erased (SPEC §8). Its data key is
// destroyed, so every personal value sealed under it reads as erased; its
// unique values and identities are released, its sessions revoked. The
// event itself holds no personal value, not even a keyed hash: Released is
// decided from the account's state and written as claim releases with the
// event, never into its payload.
type AccountErased struct {
	AccountID string `json:"account_id"`
	Reason    string `json:"reason,omitempty"` // admin
	// Released are the claims the account held when it was erased (values
	// included, so they are never serialised).
	Released []Constraint `json:"-"`
}

func (AccountErased) EventName() string { return AccountErasedName }

// UniqueConstraints releases every value and identity the account held.
func (e AccountErased) UniqueConstraints() []Constraint { return e.Released }
