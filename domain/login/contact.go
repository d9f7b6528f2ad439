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

// Channels one-time codes go out on.
const (
	ChannelSMS   = "sms"
	ChannelEmail = "email"
)

// Contact is an address a one-time code proves: a phone number (E.164) or
// an e-mail address, normalized.
type Contact struct {
	Channel string // sms or email
	Address string
}

// ParseContact checks an address for its channel; channel "" means by the
// address's shape (an @ is e-mail).
func ParseContact(channel, to string) (Contact, error) {
	if channel == "" {
		channel = ChannelSMS
		if strings.Contains(to, "@") {
			channel = ChannelEmail
		}
	}
	var err error
	switch channel {
	case ChannelSMS:
		to, err = account.NormalizePhone(to)
		if err != nil {
			return Contact{}, domain.Invalid("to: not a valid phone (E.164) address")
		}
	case ChannelEmail:
		to, err = account.NormalizeEmail(to)
		if err != nil {
			return Contact{}, domain.Invalid("to: not a valid e-mail address")
		}
	default:
		return Contact{}, domain.Invalid("channel: sms or email")
	}
	if to == "" {
		return Contact{}, domain.Invalid("to: required")
	}
	return Contact{Channel: channel, Address: to}, nil
}

// Hash keys the otp aggregate of the address: an HMAC under the server's
// OTP key, never a plain hash, which could be reversed by trying every
// phone number (SPEC §8).
func (c Contact) Hash(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("otp-subject\x00" + c.Channel + "\x00" + c.Address))
	return hex.EncodeToString(m.Sum(nil))
}

// Claim is the claim kind the address is held under (phone or email).
func (c Contact) Claim() string {
	if c.Channel == ChannelEmail {
		return events.ClaimEmail
	}
	return events.ClaimPhone
}

// Proof is the authentication method reference a verified code adds: sms,
// or otp for an e-mailed code.
func (c Contact) Proof() string {
	if c.Channel == ChannelEmail {
		return "otp"
	}
	return "sms"
}

// Masked hides the middle of the address, for events.
func (c Contact) Masked() string {
	if c.Channel == ChannelEmail {
		local, domainPart, _ := strings.Cut(c.Address, "@")
		if len(local) > 1 {
			local = local[:1]
		}
		return local + "***@" + domainPart
	}
	if to := c.Address; len(to) > 8 {
		return to[:len(to)-8] + "****" + to[len(to)-4:]
	}
	return "****"
}
