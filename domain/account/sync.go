package account

import (
	"maps"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// SourceSync is the Source of the events a bulk sync records.
const SourceSync = "sync"

// Errors of a sync decision.
var (
	ErrExternalIDRequired = domain.New(domain.KindValidation, "missing_external_id", "external_id is required: sync upserts by it")
	ErrExternalIDMoved    = domain.New(domain.KindConflict, "conflict", "the account no longer has this external_id; try again")
)

// SyncRecord is one record of a bulk sync in Bindery's fields, normalised
// (Profile.Normalize). A nil field was absent (or null) in the record: a
// creation leaves it empty, an update leaves it as it is; "" clears it.
// Attributes are merged key by key into the account's.
type SyncRecord struct {
	ExternalID                                     string
	Username, DisplayName, AvatarURL, Phone, Email *string
	Attributes                                     map[string]any
	// PasswordSealed is the sealed argon2id hash to store when the record
	// has a password ("" = none); SamePassword says whether the account's
	// sealed hash holds that same hash already (a re-sync is no change).
	PasswordSealed string
	SamePassword   func(sealed string) bool
}

// Sync decides the upsert of one sync record: the account's creation when
// it does not exist, an update of only the fields that differ when it does,
// and no event at all when nothing differs.
func (a *Account) Sync(r SyncRecord) ([]events.Event, error) {
	if r.ExternalID == "" {
		return nil, ErrExternalIDRequired
	}
	str := func(v *string) string {
		if v == nil {
			return ""
		}
		return *v
	}
	if !a.exists {
		p := Profile{
			ExternalID: r.ExternalID, Username: str(r.Username), DisplayName: str(r.DisplayName),
			AvatarURL: str(r.AvatarURL), Phone: str(r.Phone), Email: str(r.Email), Attributes: r.Attributes,
		}
		if len(p.Attributes) == 0 {
			p.Attributes = nil
		}
		return a.Create(p, r.PasswordSealed, SourceSync)
	}
	if a.ids.ExternalID != r.ExternalID {
		// The account was found by the external_id, which has moved since.
		return nil, ErrExternalIDMoved
	}
	patch := Patch{Username: r.Username, DisplayName: r.DisplayName, AvatarURL: r.AvatarURL, Phone: r.Phone, Email: r.Email}
	if len(r.Attributes) > 0 {
		merged := maps.Clone(a.attributes)
		if merged == nil {
			merged = map[string]any{}
		}
		maps.Copy(merged, r.Attributes)
		if len(merged) > 64 {
			return nil, domain.Invalid("attributes: at most 64 keys (the account has %d with this record's)", len(merged))
		}
		patch.Attributes = merged
	}
	if r.PasswordSealed != "" && (r.SamePassword == nil || !r.SamePassword(a.passwordSealed)) {
		patch.PasswordSealed = &r.PasswordSealed
	}
	return a.Update(patch, SourceSync)
}
