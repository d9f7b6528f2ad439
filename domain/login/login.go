// Package login holds the pure decisions of mini-program login and binding:
// which claims the match rules look up and in what order, what a later rule
// back-fills, and the short-lived auth-log aggregates — bind tickets,
// one-time codes per address, and the failed-password guard per account.
// The clock is passed in; nothing here does I/O.
package login

import (
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/app"
	"github.com/bindery/bindery/events"
)

// Login outcomes (the status member of an answer).
const (
	StatusOK           = "OK"
	StatusSocialBind   = "SOCIAL_BIND"
	StatusUserRegister = "USER_REGISTER"
)

// Methods, as recorded in login events.
const (
	MethodCode         = "code"
	MethodHostCode     = "host_code"
	MethodPhone        = "phone"
	MethodBindPhone    = "bind_phone"
	MethodBindOTP      = "bind_otp"
	MethodBindPassword = "bind_password"
	MethodRegister     = "register"
)

// Errors of login and binding; the codes are the API's contract.
var (
	ErrInvalidCode      = domain.New(domain.KindValidation, "invalid_code", "the code is invalid, expired or belongs to another app; get a new one")
	ErrCodeUsed         = domain.New(domain.KindValidation, "code_used", "the code was used already; get a new one")
	ErrCodeExpired      = domain.New(domain.KindValidation, "code_expired", "the code has expired; get a new one")
	ErrAccountNotFound  = domain.New(domain.KindNotFound, "account_not_found", "no account matches this identity")
	ErrTicketExpired    = domain.New(domain.KindGone, "ticket_expired", "the bind ticket is unknown, expired or spent by failed attempts; log in again")
	ErrTicketUsed       = domain.New(domain.KindGone, "ticket_used", "the bind ticket was used already; log in again")
	ErrRegisterClosed   = domain.New(domain.KindForbidden, "registration_closed", "this app does not let users register; bind an existing account")
	ErrBadCredentials   = domain.New(domain.KindUnauthorized, "invalid_credentials", "wrong username or password")
	ErrInvalidOTP       = domain.New(domain.KindValidation, "invalid_otp", "wrong one-time code")
	ErrOTPExpired       = domain.New(domain.KindValidation, "otp_expired", "no usable one-time code for this ticket and address (expired, used or out of tries); request a new one")
	ErrWrongKind        = domain.New(domain.KindValidation, "unsupported_app_kind", "this endpoint does not serve apps of this kind")
	ErrUpstreamMisconf  = domain.New(domain.KindBadGateway, "upstream_misconfigured", "WeChat refused the app's credentials (appid or secret); fix the app's configuration")
	ErrUpstreamDown     = domain.New(domain.KindUnavailable, "upstream_unavailable", "the upstream service did not answer; try again later")
	ErrOTPUndeliverable = domain.New(domain.KindUnavailable, "otp_unavailable", "one-time codes cannot be sent on this channel (no webhook or SMTP configured)")
)

// RateLimited is a 429 rate_limited error that says when to come back.
func RateLimited(retry time.Duration, format string, args ...any) error {
	e := domain.New(domain.KindRateLimited, "rate_limited", format, args...)
	e.RetryAfter = max(retry, time.Second)
	return e
}

// TooManyAttempts is a 429 too_many_attempts error: the account's failed
// password attempts reached the limit; nothing is checked until retry.
func TooManyAttempts(retry time.Duration) error {
	e := domain.New(domain.KindRateLimited, "too_many_attempts", "too many failed password attempts for this account; try again later")
	e.RetryAfter = max(retry, time.Second)
	return e
}

// Candidate is one lookup of the match rules: a claim kind and value.
type Candidate struct {
	Rule  string
	Kind  string // claim kind: openid, unionid, host_uid, phone, email, external_id
	Value string
}

// Candidates lists, in the app's rule order, the claims that the proven
// identity lets the rules look up. The app's own identity (openid, or the
// host user id) is always looked up, last when the rules do not name it, so
// that a bound identity keeps finding its account; a host login also looks
// up the account whose external_id is the host user id (SPEC §3).
func Candidates(appKind string, rules []string, p events.ProvenIdentity) []Candidate {
	all := append([]string{}, rules...)
	want := []string{app.RuleOpenID}
	if appKind == events.AppKindHost {
		want = append(want, app.RuleExternalID)
	}
	for _, w := range want {
		found := false
		for _, r := range all {
			found = found || r == w
		}
		if !found {
			all = append(all, w)
		}
	}
	var out []Candidate
	add := func(rule, kind, v string) {
		if v != "" {
			out = append(out, Candidate{Rule: rule, Kind: kind, Value: v})
		}
	}
	for _, r := range all {
		switch r {
		case app.RuleOpenID:
			if appKind == events.AppKindHost {
				add(r, events.ClaimHostUID, hostValue(p))
			} else {
				add(r, events.ClaimOpenID, openIDValue(p))
			}
		case app.RuleUnionID:
			add(r, events.ClaimUnionID, p.UnionID)
		case app.RulePhone:
			add(r, events.ClaimPhone, p.Phone)
		case app.RuleEmail:
			add(r, events.ClaimEmail, p.Email)
		case app.RuleExternalID:
			if appKind == events.AppKindHost {
				add(r, events.ClaimExternalID, p.HostUID)
			}
		}
	}
	return out
}

func openIDValue(p events.ProvenIdentity) string {
	if p.OpenID == "" {
		return ""
	}
	return p.App + "|" + p.OpenID
}

func hostValue(p events.ProvenIdentity) string {
	if p.HostUID == "" {
		return ""
	}
	return p.App + "|" + p.HostUID
}

// Identities are the bindings a bind or registration attaches: the app's
// openid and the unionid, or the host user id.
func Identities(p events.ProvenIdentity) []events.BoundIdentity {
	var out []events.BoundIdentity
	if p.OpenID != "" {
		out = append(out, events.NewBoundIdentity(events.BindingOpenID, p.App, p.OpenID))
	}
	if p.UnionID != "" {
		out = append(out, events.NewBoundIdentity(events.BindingUnionID, p.App, p.UnionID))
	}
	if p.HostUID != "" {
		out = append(out, events.NewBoundIdentity(events.BindingHostUID, p.App, p.HostUID))
	}
	return out
}

// BackfillFor is what the candidates before the one that matched (at index
// found) write onto the account.
func BackfillFor(p events.ProvenIdentity, cands []Candidate, found int) account.Backfill {
	f := account.Backfill{App: p.App, Rule: cands[found].Rule}
	for _, c := range cands[:found] {
		switch c.Kind {
		case events.ClaimOpenID:
			f.Bindings = append(f.Bindings, events.NewBoundIdentity(events.BindingOpenID, p.App, p.OpenID))
		case events.ClaimHostUID:
			f.Bindings = append(f.Bindings, events.NewBoundIdentity(events.BindingHostUID, p.App, p.HostUID))
		case events.ClaimUnionID:
			f.Bindings = append(f.Bindings, events.NewBoundIdentity(events.BindingUnionID, p.App, p.UnionID))
		case events.ClaimPhone:
			f.Phone = c.Value
		case events.ClaimEmail:
			f.Email = c.Value
		case events.ClaimExternalID:
			f.ExternalID = c.Value
		}
	}
	return f
}

// Profile is the profile a registration from this proven identity starts
// with: the proven phone and email, and for a host login the host user id
// as external_id (so the next host login also matches by it).
func Profile(p events.ProvenIdentity, displayName, avatarURL string) account.Profile {
	pr := account.Profile{DisplayName: displayName, AvatarURL: avatarURL, Phone: p.Phone, Email: p.Email}
	if p.HostUID != "" {
		pr.ExternalID = p.HostUID
	}
	return pr
}
