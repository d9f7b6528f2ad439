package handlers

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"

	"github.com/labstack/echo/v4"
)

// Outside the admin API the client is a person (a mini-program user, a PC
// showing a QR code, a browser signing in), and their address and user
// agent are personal data (SPEC §8): the log lines of those requests name
// the client by a keyed pseudonym instead, the same for one address and
// user agent while the process runs, so an operator can still follow one
// client's requests. The admin routes' lines keep the address and user
// agent (an admin token guesser is who a security warning is about).

// ctxAdminRoute marks a request to an admin route.
const ctxAdminRoute = "bindery.admin_route"

// newPeerKey is the process's key for client pseudonyms.
func newPeerKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand never fails
	return k
}

// peerFields are the log attributes that name the request's client.
func (s *Server) peerFields(c echo.Context) []any {
	if admin, _ := c.Get(ctxAdminRoute).(bool); admin {
		return []any{"ip", s.clientAddr(c), "user_agent", userAgent(c)}
	}
	m := hmac.New(sha256.New, s.peerKey)
	m.Write([]byte(s.clientAddr(c) + "\x00" + userAgent(c)))
	return []any{"peer", hex.EncodeToString(m.Sum(nil)[:8])}
}
