package events

// OIDC client events live in the history stream under the aggregate type
// "oidc_client"; the aggregate id is the client_id. A confidential client's
// secret is only ever held sealed under the master key (aad
// "oidc-client-secret:<client_id>"), never in clear.

// OIDCClientRegistered: an administrator registered a web app that signs its
// users in through Bindery's OpenID Provider. App is the mini-program app
// whose users sign in; RedirectURIs match exactly.
type OIDCClientRegistered struct {
	ClientID               string   `json:"client_id"`
	Name                   string   `json:"name"`
	App                    string   `json:"app"`
	Type                   string   `json:"type"` // confidential or public
	SecretSealed           string   `json:"secret_sealed,omitempty"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri,omitempty"`
	GrantTypes             []string `json:"grant_types"`
	Scopes                 []string `json:"scopes"`
}

// EventName implements Event.
func (OIDCClientRegistered) EventName() string { return "oidc_client_registered" }

// OIDCClientUpdated: the client's registration changed; every field carries
// the full new value except SecretSealed, which is empty when the secret
// stayed.
type OIDCClientUpdated struct {
	ClientID               string   `json:"client_id"`
	Name                   string   `json:"name"`
	App                    string   `json:"app"`
	Type                   string   `json:"type"`
	SecretSealed           string   `json:"secret_sealed,omitempty"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri,omitempty"`
	GrantTypes             []string `json:"grant_types"`
	Scopes                 []string `json:"scopes"`
}

// EventName implements Event.
func (OIDCClientUpdated) EventName() string { return "oidc_client_updated" }

// OIDCClientDeleted: the client may no longer sign anyone in. Its id may be
// registered again later.
type OIDCClientDeleted struct {
	ClientID string `json:"client_id"`
}

// EventName implements Event.
func (OIDCClientDeleted) EventName() string { return "oidc_client_deleted" }
