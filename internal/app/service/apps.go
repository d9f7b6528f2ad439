package service

import (
	"context"
	"strings"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/app"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/projections"
)

// AAD prefixes that bind an app's sealed secrets to the app and purpose.
const (
	AppSecretAAD       = "app-secret:"
	AppVerifySecretAAD = "app-verify-secret:"
)

// Apps handles the login-scheme commands and finds apps for logins.
type Apps struct {
	Repo *events.Repository[*app.App]
	Box  *secrets.Box
	View *projections.Apps
}

// NewApps wires the app commands to a store and the app view.
func NewApps(store events.Store, box *secrets.Box, view *projections.Apps) *Apps {
	return &Apps{Repo: events.NewRepository(store, events.AggregateApp, app.New, 1000), Box: box, View: view}
}

// PutApp is the admin's create-or-replace command; secrets in plain text
// ("" keeps the stored one), sealed before anything is stored.
type PutApp struct {
	Config       app.Config // without sealed secrets
	Secret       string     // wechat.secret or host.secret
	VerifySecret string     // account_source.secret
}

// Put creates or replaces the app; it reports whether it was created and
// the app as stored.
func (s *Apps) Put(ctx context.Context, meta events.Meta, id string, in PutApp) (bool, projections.App, events.Position, error) {
	var none projections.App
	if err := app.CheckID(id); err != nil {
		return false, none, events.Position{}, err
	}
	cfg, err := in.Config.Check()
	if err != nil {
		return false, none, events.Position{}, err
	}
	if err := checkSecret(cfg.Kind+".secret", in.Secret, cfg.Kind == events.AppKindHost); err != nil {
		return false, none, events.Position{}, err
	}
	if err := checkSecret("account_source.secret", in.VerifySecret, true); err != nil {
		return false, none, events.Position{}, err
	}
	if in.VerifySecret != "" && cfg.SourceMode != app.SourceVerify {
		return false, none, events.Position{}, domain.Invalid("account_source: url and secret only with mode verify")
	}
	created := false
	pos, st, err := s.Repo.Update(ctx, id, meta, func(a *app.App) (events.Decision, error) {
		c := cfg
		old := a.Settings()
		var serr error
		// Sending the stored secret again is not a change.
		if c.SecretSealed, serr = s.sealUnlessSame(in.Secret, old.SecretSealed, AppSecretAAD+id, a.Exists() && old.Kind == c.Kind); serr != nil {
			return events.Decision{}, serr
		}
		if c.SourceSecretSealed, serr = s.sealUnlessSame(in.VerifySecret, old.AccountSource.SecretSealed, AppVerifySecretAAD+id, old.AccountSource.Mode == app.SourceVerify); serr != nil {
			return events.Decision{}, serr
		}
		created = !a.Exists()
		evs, err := a.Put(c)
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return false, none, events.Position{}, translate(err)
	}
	return created, projections.App{ID: id, AppSettings: st.Settings()}, pos, nil
}

// checkSecret bounds a secret: printable, one line, and long enough when
// Bindery signs or verifies with it.
func checkSecret(field, v string, hmacKey bool) error {
	if v == "" {
		return nil
	}
	if len(v) > 512 || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return domain.Invalid("%s: at most 512 printable characters", field)
	}
	if hmacKey && len(v) < 16 {
		return domain.Invalid("%s: at least 16 characters (it is an HMAC key)", field)
	}
	return nil
}

func (s *Apps) sealUnlessSame(secret, oldSealed, aad string, comparable bool) (string, error) {
	if secret == "" {
		return "", nil
	}
	if comparable && oldSealed != "" {
		if old, err := s.Box.Open(oldSealed, aad); err == nil && string(old) == secret {
			return "", nil
		}
	}
	return s.Box.Seal([]byte(secret), aad)
}

// Get finds an app: in the view, or — right after it was created on this
// or another replica, before the view has it — in the store.
func (s *Apps) Get(ctx context.Context, id string) (projections.App, error) {
	if !app.ValidID(id) {
		return projections.App{}, app.ErrNotFound
	}
	if a, ok := s.View.Get(id); ok {
		return a, nil
	}
	st, _, err := s.Repo.Get(ctx, id)
	if err != nil {
		return projections.App{}, err
	}
	if !st.Exists() {
		// Do not keep unknown ids in the cache: they come from the public
		// API, and a later registration must be seen.
		s.Repo.Forget(id)
		return projections.App{}, app.ErrNotFound
	}
	return projections.App{ID: id, AppSettings: st.Settings()}, nil
}

// Secret opens the app's WeChat or host secret.
func (s *Apps) Secret(a projections.App) ([]byte, error) {
	return s.Box.Open(a.SecretSealed, AppSecretAAD+a.ID)
}

// VerifySecret opens the secret of the app's verify account source.
func (s *Apps) VerifySecret(a projections.App) ([]byte, error) {
	return s.Box.Open(a.AccountSource.SecretSealed, AppVerifySecretAAD+a.ID)
}
