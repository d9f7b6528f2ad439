package events

// The personal members of each event that has them (SPEC §8), sealed under
// the data key of the event's aggregate (sealed.go). A new personal field
// is added here, in the same change that adds it to its event.

var (
	profileFields = []string{"external_id", "username", "display_name", "avatar_url", "phone", "email", "attributes"}
	updateFields  = append(append([]string{}, profileFields...),
		"previous.external_id", "previous.username", "previous.phone", "previous.email")
	backfillFields = []string{"bindings[].subject", "phone", "email", "external_id"}
	identityFields = []string{"identity.openid", "identity.unionid", "identity.host_uid", "identity.phone", "identity.email"}
)

// PersonalFields implements Personal.
func (AccountCreated) PersonalFields() []string { return profileFields }

// PersonalFields implements Personal.
func (AccountUpdated) PersonalFields() []string { return updateFields }

// PersonalFields implements Personal: the openid, unionid or host user id.
func (IdentityBound) PersonalFields() []string { return []string{"subject"} }

// PersonalFields implements Personal.
func (IdentityUnbound) PersonalFields() []string { return []string{"subject"} }

// PersonalFields implements Personal.
func (AttributesBackfilled) PersonalFields() []string { return backfillFields }

// PersonalFields implements Personal.
func (AccountVerified) PersonalFields() []string { return []string{"external_id"} }

// PersonalFields implements Personal: what the login proved, sealed under
// the ticket's key (the account may not exist yet).
func (TicketIssued) PersonalFields() []string { return identityFields }

// PersonalFields implements Personal: even masked, an address is personal.
func (OTPSent) PersonalFields() []string { return []string{"to"} }

// PersonalFields implements Personal: the requesting PC's address and user
// agent.
func (QRCreated) PersonalFields() []string { return []string{"requester_ip", "user_agent"} }

// PersonalFields implements Personal: a login_hint is a username, phone
// number or e-mail address as often as not. Without one the request has no
// personal value (and needs no data key).
func (e AuthorizationRequested) PersonalFields() []string {
	if e.LoginHint == "" {
		return nil
	}
	return []string{"login_hint"}
}
