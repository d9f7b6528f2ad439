package login

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/events"
)

// MethodSignInPassword is the method of the failed password attempts that
// the hosted login page of an authorization request (SPEC §7) records on a
// password guard.
const MethodSignInPassword = "signin_password"

// SignInCandidates are the claims a sign-in identifier typed on the hosted
// login page may name, in the order they are tried: a username (case
// ignored), an e-mail address, a phone number (E.164). A username may hold
// an @, so one identifier can name several.
func SignInCandidates(identifier string) []Candidate {
	var out []Candidate
	if u, err := account.NormalizeUsername(identifier); err == nil && u != "" {
		out = append(out, Candidate{Rule: "username", Kind: events.ClaimUsername, Value: strings.ToLower(u)})
	}
	if e, err := account.NormalizeEmail(identifier); err == nil && e != "" {
		out = append(out, Candidate{Rule: "email", Kind: events.ClaimEmail, Value: e})
	}
	if p, err := account.NormalizePhone(identifier); err == nil && p != "" {
		out = append(out, Candidate{Rule: "phone", Kind: events.ClaimPhone, Value: p})
	}
	return out
}

// UnknownGuardID is the aggregate id of the password guard of an identifier
// no account holds, at app: failures against it are counted and limited
// as an account's are, so that the limit does not tell who exists. An HMAC
// under the server's key, as the identifier may be a phone number.
func UnknownGuardID(key []byte, app, identifier string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("signin-guard\x00" + app + "\x00" + strings.ToLower(strings.TrimSpace(identifier))))
	return "sgin_" + hex.EncodeToString(m.Sum(nil))[:40]
}

// ErrSignInOTP answers every code entry on the hosted login page that does
// not sign in: a wrong code, an expired or used one, one out of tries, or
// an address no code went to because nobody holds it — one answer, so that
// the page does not tell who has an account.
var ErrSignInOTP = domain.New(domain.KindValidation, "invalid_otp", "wrong or expired one-time code; ask for a new one if it keeps failing")

// SignInAMR is the authentication method reference of a sign-in by a code
// sent to the address: otp, and sms when a text message carried it
// (RFC 8176).
func SignInAMR(to Contact) []string {
	if to.Channel == ChannelSMS {
		return []string{"otp", "sms"}
	}
	return []string{"otp"}
}
