package login_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
)

// Strangers sending to an address spend their own shares: the owner's first
// code of the hour still goes out until the address's ceiling.
func TestOTPFairShares(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	o := login.NewOTP("to")
	to := login.Contact{Channel: login.ChannelSMS, Address: "+8613800000000"}
	n := 0
	send := func(at time.Time, requester string) error {
		n++
		evs, err := o.Send("shop", to, fmt.Sprintf("t%d", n), requester, "h", at)
		if err == nil {
			o.Apply(rec(evs[0], at))
		}
		return err
	}
	retry := func(err error) time.Duration {
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != "rate_limited" {
			t.Fatalf("want rate_limited, got %v", err)
		}
		return de.RetryAfter
	}
	at := now
	// One stranger: its own share, then refused; the owner is unaffected.
	for i := 0; i < login.OTPRequesterSendsPerHour; i++ {
		if err := send(at, "stranger-0"); err != nil {
			t.Fatalf("stranger send %d: %v", i, err)
		}
		at = at.Add(login.OTPSendGap)
	}
	if got := retry(send(at, "stranger-0")); got != time.Hour-3*login.OTPSendGap {
		t.Fatalf("stranger over its share: retry %s", got)
	}
	// Within a stranger's gap, another requester is not held back.
	if err := send(at.Add(-time.Second), "stranger-1"); err != nil {
		t.Fatalf("another requester within the first one's gap: %v", err)
	}
	// More strangers use up the shared budget.
	sent := login.OTPRequesterSendsPerHour + 1
	for s := 1; sent < login.OTPAddressSendsPerHour; s++ {
		for i := 0; i < login.OTPRequesterSendsPerHour && sent < login.OTPAddressSendsPerHour; i++ {
			at = at.Add(login.OTPSendGap)
			if s == 1 && i == 0 {
				continue // stranger-1 sent its first already
			}
			if err := send(at, fmt.Sprintf("stranger-%d", s)); err != nil {
				t.Fatalf("stranger-%d send %d: %v", s, i, err)
			}
			sent++
		}
	}
	at = at.Add(login.OTPSendGap)
	// A stranger who already had a code waits for the budget or its own send to age.
	retry(send(at, "stranger-1"))
	// The owner's first code of the hour goes out.
	if err := send(at, "owner"); err != nil {
		t.Fatalf("owner refused after strangers spent the shared budget: %v", err)
	}
	at = at.Add(login.OTPSendGap)
	if got := retry(send(at, "owner")); got <= 0 {
		t.Fatalf("owner's second code past the budget: retry %s", got)
	}
	// New requesters get one each until the ceiling bounds the address.
	sent++
	for s := 100; sent < login.OTPAddressMaxPerHour; s++ {
		if err := send(at, fmt.Sprintf("stranger-%d", s)); err != nil {
			t.Fatalf("first code of stranger-%d: %v", s, err)
		}
		sent++
	}
	retry(send(at, "late-requester"))
	// An hour after the first sends, the window frees up again.
	if err := send(now.Add(time.Hour+time.Minute), "late-requester"); err != nil {
		t.Fatalf("after the hour: %v", err)
	}
}

// RequesterID keys on app and openid, not on the ticket.
func TestRequesterID(t *testing.T) {
	a := login.RequesterID(events.ProvenIdentity{App: "shop", OpenID: "o1"}, "t1")
	if a != login.RequesterID(events.ProvenIdentity{App: "shop", OpenID: "o1"}, "t2") {
		t.Fatal("two tickets of one identity are two requesters")
	}
	if a == login.RequesterID(events.ProvenIdentity{App: "blog", OpenID: "o1"}, "t1") || a == login.RequesterID(events.ProvenIdentity{App: "shop", OpenID: "o2"}, "t1") {
		t.Fatal("different identities share a requester")
	}
	if login.RequesterID(events.ProvenIdentity{App: "shop"}, "t1") != "t1" {
		t.Fatal("an identity without an id is its ticket")
	}
}

// Codes sent before requesters were recorded count per ticket, and against
// the address's budget.
func TestOTPLegacySends(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	o := login.NewOTP("to")
	for i := 0; i < login.OTPAddressSendsPerHour; i++ {
		o.Apply(rec(events.OTPSent{Ticket: fmt.Sprintf("old-%d", i), CodeHash: "h", ExpiresAt: now.Add(login.OTPTTL)}, now))
	}
	to := login.Contact{Channel: login.ChannelSMS, Address: "+8613800000000"}
	if _, err := o.Send("shop", to, "t1", "old-0", "h", now.Add(time.Second)); code(err) != "rate_limited" {
		t.Fatalf("a legacy ticket's own gap: %v", err)
	}
	evs, err := o.Send("shop", to, "t1", "r1", "h", now.Add(time.Second))
	if err != nil {
		t.Fatalf("a new requester past legacy sends: %v", err)
	}
	o.Apply(rec(evs[0], now.Add(time.Second)))
	if _, err := o.Send("shop", to, "t2", "r1", "h", now.Add(2*time.Minute)); code(err) != "rate_limited" {
		t.Fatalf("the budget counts legacy sends: %v", err)
	}
}
