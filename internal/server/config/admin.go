package config

import (
	"fmt"
	"regexp"
	"strings"
)

// AdminName is the name of the token BINDERY_ADMIN_TOKEN sets.
const AdminName = "admin"

// MinAdminTokenLen is the shortest admin token accepted outside dev mode.
const MinAdminTokenLen = 32

// sampleTokens are values from docs and examples that must never guard a
// real server.
var sampleTokens = map[string]bool{
	"change-me-to-a-long-random-token":      true,
	"change-me":                             true,
	"changeme":                              true,
	"dev":                                   true,
	"replace-with-at-least-32-random-chars": true,
}

var tokenName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// adminTokens reads BINDERY_ADMIN_TOKEN (the token named admin) and
// BINDERY_ADMIN_TOKENS (name=token,…), refusing weak ones: shorter than
// MinAdminTokenLen or a sample value. Dev mode allows its token "dev".
func adminTokens(single, list string, dev bool, errs []error) (map[string]string, []error) {
	out := map[string]string{}
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
	}
	check := func(env, name, tok string) bool {
		switch {
		case dev && tok == "dev":
			return true
		case sampleTokens[tok]:
			bad(env, "token %s is a sample value from the docs: use at least %d random characters (openssl rand -base64 33)", name, MinAdminTokenLen)
		case len(tok) < MinAdminTokenLen && !dev:
			bad(env, "token %s is too short (%d characters): use at least %d random characters (openssl rand -base64 33)", name, len(tok), MinAdminTokenLen)
		default:
			return true
		}
		return false
	}
	if single != "" && check("BINDERY_ADMIN_TOKEN", AdminName, single) {
		out[AdminName] = single
	}
	if list != "" {
		seen := map[string]string{}
		if single != "" {
			seen[single] = AdminName
		}
		for _, item := range strings.Split(list, ",") {
			name, tok, ok := strings.Cut(strings.TrimSpace(item), "=")
			name, tok = strings.TrimSpace(name), strings.TrimSpace(tok)
			switch {
			case !ok || tok == "":
				bad("BINDERY_ADMIN_TOKENS", "%q is not name=token", redact(item))
				continue
			case !tokenName.MatchString(name):
				bad("BINDERY_ADMIN_TOKENS", "name %q: lower-case letters, digits, '.', '_' or '-'", name)
				continue
			case out[name] != "" || (name == AdminName && single != ""):
				bad("BINDERY_ADMIN_TOKENS", "name %q given twice (BINDERY_ADMIN_TOKEN is the token named admin)", name)
				continue
			case seen[tok] != "":
				bad("BINDERY_ADMIN_TOKENS", "tokens %s and %s are the same", seen[tok], name)
				continue
			}
			seen[tok] = name
			if check("BINDERY_ADMIN_TOKENS", name, tok) {
				out[name] = tok
			}
		}
	}
	if len(out) == 0 && len(errs) == 0 {
		if dev {
			out[AdminName] = "dev"
		} else {
			bad("BINDERY_ADMIN_TOKEN", "required (outside dev mode): at least %d random characters, or BINDERY_ADMIN_TOKENS", MinAdminTokenLen)
		}
	}
	return out, errs
}

// redact keeps a malformed setting's shape without its secret.
func redact(s string) string {
	if len(s) > 4 {
		return s[:2] + "…"
	}
	return "…"
}
