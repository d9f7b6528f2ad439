package login

import (
	"errors"

	"github.com/bindery/bindery/domain"
	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/internal/crypto/hostcode"
)

// Outcome is the answer of a login, bind or registration.
type Outcome struct {
	Status       string   `json:"status"`
	AccountID    string   `json:"account_id,omitempty"`
	IDToken      string   `json:"id_token,omitempty"`
	SessionToken string   `json:"session_token,omitempty"`
	TokenType    string   `json:"token_type,omitempty"`
	BindTicket   string   `json:"bind_ticket,omitempty"`
	BindMethods  []string `json:"bind_methods,omitempty"`
	ExpiresIn    int      `json:"expires_in"`
}

func okOutcome(is sessions.Issued) Outcome {
	return Outcome{Status: dlogin.StatusOK, AccountID: is.AccountID, IDToken: is.IDToken, SessionToken: is.SessionToken, TokenType: is.TokenType, ExpiresIn: is.ExpiresIn}
}

// amr is the authentication methods of a session: how the app proved the
// user (wechat or host), then what the user proved beside it.
func amr(kind string, more ...string) []string {
	first := "wechat"
	if kind == events.AppKindHost {
		first = "host"
	}
	return append([]string{first}, more...)
}

// checkCode refuses what no issuer hands out: empty, huge, or not one
// visible ASCII token.
func checkCode(code string) error {
	if code == "" || len(code) > hostcode.MaxCodeLen {
		return dlogin.ErrInvalidCode
	}
	for i := 0; i < len(code); i++ {
		if code[i] <= ' ' || code[i] >= 0x7f {
			return dlogin.ErrInvalidCode
		}
	}
	return nil
}

// codeOf is the problem code of an error, as failure events record it.
func codeOf(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Code
	}
	return "internal_error"
}
