package events

// App (login scheme) events live in the history stream under the aggregate
// type "app"; the aggregate id is the app's slug. Secrets appear only
// sealed under the master key (secrets.Box): the app's WeChat or host secret
// with the associated data "app-secret:<app id>", the verify secret of the
// account source with "app-verify-secret:<app id>".

// App kinds.
const (
	AppKindWeChat = "wechat"
	AppKindHost   = "host"
)

// AppSettings is the whole configuration of an app as stored.
type AppSettings struct {
	Name string `json:"name,omitempty"`
	Kind string `json:"kind"`
	// WeChatAppID is the mini program's appid (kind wechat).
	WeChatAppID string `json:"wechat_appid,omitempty"`
	// SecretSealed is the WeChat app secret (kind wechat) or the HMAC secret
	// shared with the host app (kind host), sealed.
	SecretSealed  string            `json:"secret_sealed,omitempty"`
	MatchRules    []string          `json:"match_rules"`
	OnNoMatch     string            `json:"on_no_match"`
	AccountSource AppAccountSource  `json:"account_source"`
	FieldMapping  map[string]string `json:"field_mapping,omitempty"`
	QR            AppQR             `json:"qr,omitzero"`
}

// AppAccountSource says where the app's accounts come from: "local", or
// "verify" (the customer's account API at URL, calls signed with the sealed
// secret).
type AppAccountSource struct {
	Mode         string `json:"mode"`
	URL          string `json:"url,omitempty"`
	SecretSealed string `json:"secret_sealed,omitempty"`
}

// AppQR configures the QR codes of PC logins through this app: "link" (a
// plain URL QR code the mini program console maps to a page) or "wxacode"
// (a mini program code from WeChat opening Page).
type AppQR struct {
	Mode string `json:"mode,omitempty"`
	Page string `json:"page,omitempty"`
}

// AppRegistered: a login scheme was created.
type AppRegistered struct {
	AppID string `json:"app_id"`
	AppSettings
}

// EventName implements Event.
func (AppRegistered) EventName() string { return "app_registered" }

// AppUpdated: a login scheme's configuration was replaced by Settings (the
// whole configuration after the change, secrets kept sealed as before when
// the admin did not send new ones).
type AppUpdated struct {
	AppID string `json:"app_id"`
	AppSettings
	// SecretChanged and VerifySecretChanged tell auditors that a secret was
	// rotated without showing either value.
	SecretChanged       bool `json:"secret_changed,omitempty"`
	VerifySecretChanged bool `json:"verify_secret_changed,omitempty"`
}

// EventName implements Event.
func (AppUpdated) EventName() string { return "app_updated" }
