package sessions

import (
	"encoding/base64"
	"strings"

	"github.com/google/uuid"
)

// tokenLen is len(uuid) + "." + base64url(32 bytes).
const tokenLen = 36 + 1 + 43

// parseToken returns the family id of a well-formed session token
// ("<family uuid>.<base64url of 32 random bytes>").
func parseToken(tok string) (string, bool) {
	if len(tok) != tokenLen {
		return "", false
	}
	fam, secret, ok := strings.Cut(tok, ".")
	if !ok {
		return "", false
	}
	if u, err := uuid.Parse(fam); err != nil || u.String() != fam {
		return "", false
	}
	if b, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(b) != 32 {
		return "", false
	}
	return fam, true
}
