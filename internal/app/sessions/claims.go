package sessions

import (
	"time"

	"github.com/bindery/bindery/projections"
)

// IDClaims are the profile claims put into an id_token.
type IDClaims struct {
	AccountID, Name, Username, Picture, Phone, Email string
	Roles                                            []string // role names (org-scoped grants as "role@org")
	Orgs                                             []string
}

// Issued is what a successful login or refresh hands out (JSON as the API
// answers it).
type Issued struct {
	AccountID    string `json:"account_id"`
	IDToken      string `json:"id_token"`
	SessionToken string `json:"session_token"`
	ExpiresIn    int    `json:"expires_in"` // seconds the id_token lives
	TokenType    string `json:"token_type"` // "Bearer"
}

// ClaimsFor builds IDClaims from the account read model.
func ClaimsFor(acc projections.Account) IDClaims {
	c := IDClaims{
		AccountID: acc.ID, Name: acc.DisplayName, Username: acc.Username, Picture: acc.AvatarURL,
		Phone: acc.Phone, Email: acc.Email,
	}
	for _, g := range acc.Roles {
		if g.Org != "" {
			c.Roles = append(c.Roles, g.Role+"@"+g.Org)
		} else {
			c.Roles = append(c.Roles, g.Role)
		}
	}
	if len(acc.Orgs) > 0 {
		c.Orgs = append([]string(nil), acc.Orgs...)
	}
	return c
}

func (s *Service) issued(accountID, idToken, sessionToken string) Issued {
	return Issued{
		AccountID: accountID, IDToken: idToken, SessionToken: sessionToken,
		ExpiresIn: int(s.idTTL().Seconds()), TokenType: "Bearer",
	}
}

// sign makes the id_token of a session family (sid) for app (aud).
func (s *Service) sign(c IDClaims, app, sid string, amr []string, authTime, now time.Time) (string, error) {
	claims := map[string]any{
		"iss":       s.Signer.Issuer(),
		"sub":       c.AccountID,
		"aud":       app,
		"iat":       now,
		"exp":       now.Add(s.idTTL()),
		"auth_time": authTime,
		"sid":       sid,
	}
	if len(amr) > 0 {
		claims["amr"] = amr
	}
	opt := func(name, v string) {
		if v != "" {
			claims[name] = v
		}
	}
	opt("name", c.Name)
	opt("preferred_username", c.Username)
	opt("picture", c.Picture)
	opt("phone_number", c.Phone)
	opt("email", c.Email)
	if len(c.Roles) > 0 {
		claims["roles"] = c.Roles
	}
	if len(c.Orgs) > 0 {
		claims["orgs"] = c.Orgs
	}
	return s.Signer.Sign(claims)
}
