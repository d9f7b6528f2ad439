// Package app holds the app aggregate: a login scheme (kind, credentials,
// match rules, what to do when nobody matches, where accounts come from).
// Pure: secrets arrive sealed, the clock is not needed.
package app

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/events"
)

// Match rules: what a login may prove, tried in the app's order.
const (
	RuleUnionID    = "unionid"
	RuleOpenID     = "openid"
	RulePhone      = "phone"
	RuleEmail      = "email"
	RuleExternalID = "external_id"
)

// What happens when no rule finds an account.
const (
	OnNoMatchBind     = "bind"
	OnNoMatchRegister = "register"
)

// Account source modes.
const (
	SourceLocal  = "local"
	SourceVerify = "verify"
)

// QR code modes.
const (
	QRLink    = "link"
	QRWXACode = "wxacode"
)

// DefaultQRPage is the mini program page a QR code opens by default.
const DefaultQRPage = "pages/auth/auth"

// Errors of the app aggregate.
var (
	ErrNotFound = domain.New(domain.KindNotFound, "app_not_found", "no app with this id")
)

var (
	idPattern      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)
	appIDPattern   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	pagePattern    = regexp.MustCompile(`^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$`)
	validRules     = []string{RuleUnionID, RuleOpenID, RulePhone, RuleEmail, RuleExternalID}
	mappingTargets = []string{"external_id", "username", "display_name", "avatar_url", "phone", "email", "password"}
)

// ValidID reports whether id is an app slug: ^[a-z0-9][a-z0-9-]{1,62}$.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// CheckID is ValidID as a validation error.
func CheckID(id string) error {
	if !ValidID(id) {
		return domain.Invalid("app id: 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit")
	}
	return nil
}

// Config is what an admin sends to create or replace an app. Secrets are
// given sealed by the caller; "" keeps the stored one.
type Config struct {
	Name               string
	Kind               string
	WeChatAppID        string
	SecretSealed       string
	MatchRules         []string
	OnNoMatch          string
	SourceMode         string
	SourceURL          string
	SourceSecretSealed string
	FieldMapping       map[string]string
	QRMode             string
	QRPage             string
}

// Check validates the plain fields of a config and fills in defaults. It
// does not look at secrets (Put decides whether one is needed).
func (c Config) Check() (Config, error) {
	if len(c.Name) > 128 || strings.ContainsAny(c.Name, "\x00\r\n") {
		return c, domain.Invalid("name: at most 128 characters, one line")
	}
	switch c.Kind {
	case events.AppKindWeChat:
		if !appIDPattern.MatchString(c.WeChatAppID) {
			return c, domain.Invalid("wechat.appid: required, 1-64 of letters, digits, '_' or '-'")
		}
	case events.AppKindHost:
		if c.WeChatAppID != "" {
			return c, domain.Invalid("wechat: only for kind wechat")
		}
	case "":
		return c, domain.Invalid("kind: required, wechat or host")
	default:
		return c, domain.Invalid("kind: wechat or host")
	}
	if len(c.MatchRules) == 0 {
		if c.Kind == events.AppKindHost {
			c.MatchRules = []string{RuleOpenID, RuleExternalID}
		} else {
			c.MatchRules = []string{RuleUnionID, RuleOpenID}
		}
	}
	seen := map[string]bool{}
	for _, r := range c.MatchRules {
		if !slices.Contains(validRules, r) {
			return c, domain.Invalid("match_rules: %q is not one of unionid, openid, phone, email, external_id", r)
		}
		if seen[r] {
			return c, domain.Invalid("match_rules: %q appears twice", r)
		}
		seen[r] = true
	}
	c.MatchRules = slices.Clone(c.MatchRules)
	switch c.OnNoMatch {
	case "":
		c.OnNoMatch = OnNoMatchBind
	case OnNoMatchBind, OnNoMatchRegister:
	default:
		return c, domain.Invalid("on_no_match: bind or register")
	}
	switch c.SourceMode {
	case "":
		c.SourceMode = SourceLocal
		fallthrough
	case SourceLocal:
		if c.SourceURL != "" || c.SourceSecretSealed != "" {
			return c, domain.Invalid("account_source: url and secret only with mode verify")
		}
	case SourceVerify:
		u, err := url.Parse(c.SourceURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(c.SourceURL) > 2048 {
			return c, domain.Invalid("account_source.url: an http(s) URL without credentials is required with mode verify")
		}
	default:
		return c, domain.Invalid("account_source.mode: local or verify")
	}
	if len(c.FieldMapping) > 64 {
		return c, domain.Invalid("field_mapping: at most 64 entries")
	}
	targets := map[string]string{}
	for from, to := range c.FieldMapping {
		if from == "" || len(from) > 128 || strings.ContainsAny(from, "\x00\r\n") {
			return c, domain.Invalid("field_mapping: customer field names are 1-128 characters, one line")
		}
		attr, isAttr := strings.CutPrefix(to, "attributes.")
		if !slices.Contains(mappingTargets, to) && !(isAttr && attr != "" && len(attr) <= 64 && !strings.ContainsAny(attr, ". \x00\r\n")) {
			return c, domain.Invalid("field_mapping: %q maps to %q; targets are %s or attributes.<name>", from, to, strings.Join(mappingTargets, ", "))
		}
		if prev, dup := targets[to]; dup {
			return c, domain.Invalid("field_mapping: %q and %q both map to %q", prev, from, to)
		}
		targets[to] = from
	}
	c.FieldMapping = maps.Clone(c.FieldMapping)
	switch c.QRMode {
	case "":
		if c.QRPage != "" {
			return c, domain.Invalid("qr.mode: link or wxacode")
		}
	case QRLink, QRWXACode:
		if c.QRMode == QRWXACode && c.Kind != events.AppKindWeChat {
			return c, domain.Invalid("qr.mode: wxacode needs kind wechat")
		}
		if c.QRPage == "" {
			c.QRPage = DefaultQRPage
		}
		if len(c.QRPage) > 128 || !pagePattern.MatchString(c.QRPage) {
			return c, domain.Invalid("qr.page: a mini program page path like pages/auth/auth (no leading '/', no query)")
		}
	default:
		return c, domain.Invalid("qr.mode: link or wxacode")
	}
	return c, nil
}

// App is the state of one app aggregate.
type App struct {
	id       string
	exists   bool
	settings events.AppSettings
}

// New returns the empty state of the app with this id.
func New(id string) *App { return &App{id: id} }

// ID is the app's slug.
func (a *App) ID() string { return a.id }

// Exists reports whether the app was registered.
func (a *App) Exists() bool { return a.exists }

// Settings is the stored configuration.
func (a *App) Settings() events.AppSettings { return cloneSettings(a.settings) }

// Clone copies the state.
func (a *App) Clone() *App {
	c := *a
	c.settings = cloneSettings(a.settings)
	return &c
}

func cloneSettings(s events.AppSettings) events.AppSettings {
	s.MatchRules = slices.Clone(s.MatchRules)
	s.FieldMapping = maps.Clone(s.FieldMapping)
	return s
}

// Apply folds one event into the state.
func (a *App) Apply(r events.Record) {
	switch e := r.Event.(type) {
	case events.AppRegistered:
		a.exists, a.settings = true, cloneSettings(e.AppSettings)
	case events.AppUpdated:
		a.exists, a.settings = true, cloneSettings(e.AppSettings)
	}
}

// Folds implements domain.Folder: the events Apply folds.
func (*App) Folds() []events.Event {
	return []events.Event{events.AppRegistered{}, events.AppUpdated{}}
}

// Put decides the creation or replacement of the app with a checked
// config. A secret left empty keeps the stored one; a new app, a change of
// kind and the switch to verify mode need their secrets. It returns no
// events when nothing changes.
func (a *App) Put(c Config) ([]events.Event, error) {
	s := events.AppSettings{
		Name: c.Name, Kind: c.Kind, WeChatAppID: c.WeChatAppID, SecretSealed: c.SecretSealed,
		MatchRules: c.MatchRules, OnNoMatch: c.OnNoMatch,
		AccountSource: events.AppAccountSource{Mode: c.SourceMode, URL: c.SourceURL, SecretSealed: c.SourceSecretSealed},
		FieldMapping:  c.FieldMapping, QR: events.AppQR{Mode: c.QRMode, Page: c.QRPage},
	}
	old := a.settings
	secretNew, verifyNew := s.SecretSealed != "", s.AccountSource.SecretSealed != ""
	if !secretNew && a.exists && old.Kind == s.Kind {
		s.SecretSealed = old.SecretSealed
	}
	if !verifyNew && a.exists && old.AccountSource.Mode == SourceVerify && s.AccountSource.Mode == SourceVerify {
		s.AccountSource.SecretSealed = old.AccountSource.SecretSealed
	}
	if s.SecretSealed == "" {
		return nil, domain.Invalid("%s.secret: required (secrets are write-only: send it when creating the app or changing its kind)", s.Kind)
	}
	if s.AccountSource.Mode == SourceVerify && s.AccountSource.SecretSealed == "" {
		return nil, domain.Invalid("account_source.secret: required with mode verify")
	}
	if !a.exists {
		return []events.Event{events.AppRegistered{AppID: a.id, AppSettings: s}}, nil
	}
	if !secretNew && !verifyNew && sameSettings(old, s) {
		return nil, nil
	}
	return []events.Event{events.AppUpdated{AppID: a.id, AppSettings: s, SecretChanged: secretNew, VerifySecretChanged: verifyNew}}, nil
}

func sameSettings(a, b events.AppSettings) bool {
	return a.Name == b.Name && a.Kind == b.Kind && a.WeChatAppID == b.WeChatAppID && a.SecretSealed == b.SecretSealed &&
		slices.Equal(a.MatchRules, b.MatchRules) && a.OnNoMatch == b.OnNoMatch && a.AccountSource == b.AccountSource &&
		maps.Equal(a.FieldMapping, b.FieldMapping) && a.QR == b.QR
}
