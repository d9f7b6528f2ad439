package apps

import (
	"context"
	"strings"

	"github.com/bindery/bindery/domain"
	"github.com/bindery/bindery/domain/app"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/projections"
)

// Put is the admin's create-or-replace command; secrets in plain text
// ("" keeps the stored one), sealed before anything is stored.
type Put struct {
	Config       app.Config // without sealed secrets
	Secret       string     // wechat.secret or host.secret
	VerifySecret string     // account_source.secret
}

// Put creates or replaces the app; it reports whether it was created and
// the app as stored.
func (s *Service) Put(ctx context.Context, meta events.Meta, id string, in Put) (bool, projections.App, events.Position, error) {
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
		if c.SecretSealed, serr = s.sealUnlessSame(in.Secret, old.SecretSealed, SecretAAD+id, a.Exists() && old.Kind == c.Kind); serr != nil {
			return events.Decision{}, serr
		}
		if c.SourceSecretSealed, serr = s.sealUnlessSame(in.VerifySecret, old.AccountSource.SecretSealed, VerifySecretAAD+id, old.AccountSource.Mode == app.SourceVerify); serr != nil {
			return events.Decision{}, serr
		}
		created = !a.Exists()
		evs, err := a.Put(c)
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return false, none, events.Position{}, usecase.Translate(err)
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

func (s *Service) sealUnlessSame(secret, oldSealed, aad string, comparable bool) (string, error) {
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
