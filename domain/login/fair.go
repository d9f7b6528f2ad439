package login

import (
	"time"

	"github.com/bindery/bindery/events"
)

// Limits of one-time codes to one address, per sliding hour (docs/login.md,
// "Who may send codes to an address"). Each requester — the identity a
// ticket proved, its app and openid — has its own share, so a stranger
// sending to someone else's address spends only the stranger's share:
//
//   - a requester gets at most OTPRequesterSendsPerHour codes to the
//     address, one per OTPSendGap;
//   - all requesters together get OTPAddressSendsPerHour codes;
//   - past that, a requester with no code to the address in the hour still
//     gets one (the owner is never locked out by others' sends), up to the
//     ceiling of OTPAddressMaxPerHour codes to the address (the cost cap).
const (
	OTPRequesterSendsPerHour = 3
	OTPAddressSendsPerHour   = 10
	OTPAddressMaxPerHour     = 20
	otpWindow                = time.Hour
)

// otpSend is one code sent to an address: when, and for which requester.
type otpSend struct {
	at        time.Time
	requester string
}

// RequesterID is the requester of codes asked through a ticket of this
// proven identity: a hash of its app and openid (or, without one, its
// unionid or host uid); ticket (the ticket's hash) when it proved none.
func RequesterID(p events.ProvenIdentity, ticket string) string {
	who := p.OpenID
	if who == "" {
		who = p.UnionID
	}
	if who == "" {
		who = p.HostUID
	}
	if who == "" {
		return ticket
	}
	return hashHex("otp-requester", p.App, who)
}

// fairLimit refuses a send for requester at now (rate_limited, with how
// long to wait) when it would break the address's limits.
func (o *OTP) fairLimit(requester string, now time.Time) error {
	var all, mine []time.Time
	for _, s := range o.sends {
		if now.Sub(s.at) >= otpWindow {
			continue
		}
		all = append(all, s.at)
		if s.requester == requester {
			mine = append(mine, s.at)
		}
	}
	if n := len(mine); n > 0 {
		if wait := mine[n-1].Add(OTPSendGap).Sub(now); wait > 0 {
			return RateLimited(wait, "a one-time code was sent less than %s ago", OTPSendGap)
		}
	}
	if n := len(mine); n >= OTPRequesterSendsPerHour {
		return RateLimited(mine[n-OTPRequesterSendsPerHour].Add(otpWindow).Sub(now),
			"at most %d one-time codes an hour to one address", OTPRequesterSendsPerHour)
	}
	if n := len(all); n >= OTPAddressMaxPerHour {
		return RateLimited(all[n-OTPAddressMaxPerHour].Add(otpWindow).Sub(now),
			"at most %d one-time codes an hour to one address, whoever asks", OTPAddressMaxPerHour)
	}
	if n := len(all); n >= OTPAddressSendsPerHour && len(mine) > 0 {
		// Either the requester's oldest send or the address's budget frees up.
		free := all[n-OTPAddressSendsPerHour].Add(otpWindow)
		if own := mine[0].Add(otpWindow); own.Before(free) {
			free = own
		}
		return RateLimited(free.Sub(now), "this address had %d one-time codes in the last hour", OTPAddressSendsPerHour)
	}
	return nil
}
