package tokens

import "strings"

// Discovery returns the OpenID Provider configuration document served at
// issuer + "/.well-known/openid-configuration". Bindery has no authorization
// endpoint: tokens come from its login API, and standard clients only refresh.
// algs are the id_token algorithms (Signer.Algorithm); none means
// DefaultAlgorithm.
func Discovery(issuer string, algs ...string) map[string]any {
	if len(algs) == 0 {
		algs = []string{DefaultAlgorithm}
	}
	base := strings.TrimSuffix(issuer, "/")
	return map[string]any{
		"issuer":                                issuer,
		"jwks_uri":                              base + "/.well-known/jwks.json",
		"token_endpoint":                        base + "/oauth2/token",
		"userinfo_endpoint":                     base + "/v1/userinfo",
		"id_token_signing_alg_values_supported": algs,
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"grant_types_supported":                 []string{"refresh_token"},
		"token_endpoint_auth_methods_supported": []string{"none"},
		"scopes_supported":                      []string{"openid", "profile", "phone", "email"},
		"claims_supported": []string{
			"iss", "sub", "aud", "exp", "iat", "auth_time", "amr", "sid",
			"name", "preferred_username", "picture",
			"phone_number", "phone_number_verified", "email", "email_verified",
			"roles", "orgs",
		},
		"request_uri_parameter_supported": false,
	}
}
