package login

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"

	"github.com/bindery/bindery/domain"
	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/otpsend"
	"github.com/bindery/bindery/internal/app/usecase"
)

// SendOTP sends a one-time code for the ticket to a phone (sms) or e-mail
// address.
type SendOTP struct {
	Ticket  string
	Channel string // sms or email
	To      string
}

// SendOTPHandler sends one-time codes: at most one send per 60 s and five
// an hour per ticket, and the address's fair shares per requesting
// identity (decided by the ticket and the address's otp aggregate, changed
// together in one append).
type SendOTPHandler struct{ c *core }

// NewSendOTPHandler builds the handler; it needs the OTP key. Without a
// Sender every send is otp_unavailable.
func NewSendOTPHandler(d Deps) *SendOTPHandler {
	return &SendOTPHandler{c: newCore("login.NewSendOTPHandler", d, "otp key", nonEmpty(d.OTPKey))}
}

// Handle answers how many seconds the code lives.
func (h *SendOTPHandler) Handle(ctx context.Context, meta events.Meta, cmd SendOTP) (int, events.Position, error) {
	c := h.c
	meta = c.stamp(meta)
	id, err := ticketID(cmd.Ticket)
	if err != nil {
		return 0, events.Position{}, err
	}
	if cmd.Channel == "" {
		return 0, events.Position{}, domain.Invalid("channel: sms or email")
	}
	to, err := dlogin.ParseContact(cmd.Channel, cmd.To)
	if err != nil {
		return 0, events.Position{}, err
	}
	if c.Sender == nil || !c.Sender.Supports(to.Channel) {
		return 0, events.Position{}, dlogin.ErrOTPUndeliverable
	}
	code := newOTP()
	codeHash := c.otpHash(id, to, code)
	var appID string
	pos, err := events.Transact(ctx, c.Store, meta, []events.Aggregate{ticketAgg(id), otpAgg(c.OTPKey, to)}, func(ls []events.Loaded) ([]events.Change, error) {
		t, o := dlogin.NewTicket(id), dlogin.NewOTP(to.Hash(c.OTPKey))
		ls[0].Fold(t)
		ls[1].Fold(o)
		now := c.Now()
		tevs, err := t.RequestOTP(to.Channel, to.Hash(c.OTPKey), now)
		if err != nil {
			return nil, err
		}
		appID = t.Identity().App
		oevs, err := o.Send(appID, to, id, dlogin.RequesterID(t.Identity(), id), codeHash, now)
		if err != nil {
			return nil, err
		}
		return []events.Change{ls[0].Change(tevs...), ls[1].Change(oevs...)}, nil
	})
	if err != nil {
		return 0, events.Position{}, usecase.Translate(err)
	}
	ttl := int(dlogin.OTPTTL.Seconds())
	if err := c.Sender.Send(ctx, otpsend.Message{Channel: to.Channel, To: to.Address, Code: code, App: appID, ExpiresIn: ttl}); err != nil {
		c.Log.Warn("one-time code not delivered", "app", appID, "channel", to.Channel, "err", err)
		return 0, pos, dlogin.ErrUpstreamDown
	}
	return ttl, pos, nil
}

func otpAgg(key []byte, to dlogin.Contact) events.Aggregate {
	return events.Aggregate{Type: events.AggregateOTP, ID: to.Hash(key)}
}

// otpHash is how a code is stored: an HMAC under the OTP key, bound to the
// ticket and the address.
func (c *core) otpHash(ticket string, to dlogin.Contact, code string) string {
	m := hmac.New(sha256.New, c.OTPKey)
	m.Write([]byte(ticket + "\x00" + to.Hash(c.OTPKey) + "\x00" + code))
	return hex.EncodeToString(m.Sum(nil))
}

func newOTP() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000)) // crypto/rand never fails
	return fmt.Sprintf("%06d", n.Int64())
}

// nonEmpty is b, or nil when it is empty (for usecase.Require).
func nonEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
