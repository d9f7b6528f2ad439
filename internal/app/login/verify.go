package login

import (
	"context"
	"errors"
	"strings"

	"github.com/bindery/bindery/domain/account"
	"github.com/bindery/bindery/domain/app"
	dlogin "github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/domain/role"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/verify"
	"github.com/bindery/bindery/internal/app/usecase"
	"github.com/bindery/bindery/projections"
)

// Verify-mode account sources (SPEC §2): password binds and host logins of
// such an app ask the customer's account API, and Bindery upserts the
// account it vouches for by external_id.

// verifyHostUser asks the customer's API about a host user no account
// matched; it returns the account it vouches for ("" for a 401).
func (c *core) verifyHostUser(ctx context.Context, meta events.Meta, a projections.App, uid string) (string, events.Position, error) {
	if c.Verifier == nil {
		return "", events.Position{}, dlogin.ErrUpstreamDown
	}
	secret, err := c.Apps.VerifySecret(a)
	if err != nil {
		return "", events.Position{}, err
	}
	ans, err := c.Verifier.HostUser(ctx, a.AccountSource.URL, string(secret), uid)
	switch {
	case errors.Is(err, verify.ErrRejected):
		return "", events.Position{}, nil
	case err != nil:
		c.Log.Warn("account API unavailable", "app", a.ID, "err", err)
		return "", events.Position{}, dlogin.ErrUpstreamDown
	}
	accID, pos, err := c.upsertVerified(ctx, meta, a, ans, "", "host_uid")
	if err != nil {
		return "", events.Position{}, err
	}
	ids := dlogin.Identities(events.ProvenIdentity{App: a.ID, HostUID: uid})
	if _, _, err := c.Accounts.Repo.Refresh(ctx, accID); err != nil {
		return "", events.Position{}, err
	}
	p2, _, err := c.Accounts.Repo.Update(ctx, accID, meta, func(acc *account.Account) (events.Decision, error) {
		evs, err := acc.Bind(ids, "verify")
		return events.Decision{Events: evs}, err
	})
	if err != nil {
		return "", events.Position{}, usecase.Translate(err)
	}
	return accID, pos.Max(p2), nil
}

// upsertVerified creates or updates the account with the answer's
// external_id, records the answer (account_verified), and applies its
// roles and orgs (those defined in Bindery; others are skipped and logged).
// Profile values another account holds are left out rather than failing
// the dlogin.
func (c *core) upsertVerified(ctx context.Context, meta events.Meta, a projections.App, ans verify.Answer, username, method string) (string, events.Position, error) {
	phone, err := account.NormalizePhone(ans.Phone)
	if err != nil {
		phone = ""
	}
	email, err := account.NormalizeEmail(ans.Email)
	if err != nil {
		email = ""
	}
	accID, err := c.Store.Owner(ctx, events.ClaimExternalID, ans.ExternalID)
	if err != nil {
		return "", events.Position{}, err
	}
	// A value is kept only when nobody else holds it.
	keep := func(kind, v string) (string, error) {
		if v == "" {
			return "", nil
		}
		owner, err := c.Store.Owner(ctx, kind, v)
		if err != nil || (owner != "" && owner != accID) {
			return "", err
		}
		return v, nil
	}
	if phone, err = keep(events.ClaimPhone, phone); err != nil {
		return "", events.Position{}, err
	}
	if email, err = keep(events.ClaimEmail, email); err != nil {
		return "", events.Position{}, err
	}
	if username != "" {
		if u, uerr := account.NormalizeUsername(username); uerr != nil {
			username = ""
		} else if username, err = keep(events.ClaimUsername, strings.ToLower(u)); err != nil {
			return "", events.Position{}, err
		} else if username != "" {
			username = u
		}
	}
	displayName := ans.DisplayName
	if len(displayName) > 256 {
		displayName = displayName[:256]
	}
	var pos events.Position
	if accID == "" {
		accID = c.Accounts.NewID()
		p := account.Profile{ExternalID: ans.ExternalID, Username: username, DisplayName: displayName, Phone: phone, Email: email}
		pos, _, err = c.Accounts.Repo.Update(ctx, accID, meta, func(acc *account.Account) (events.Decision, error) {
			evs, err := acc.Create(p, "", "verify")
			if err != nil {
				return events.Decision{}, err
			}
			v, err := acc.Verified(a.ID, ans.ExternalID, method, ans.Roles, ans.Orgs)
			return events.Decision{Events: append(evs, v...)}, err
		})
	} else {
		if _, _, err := c.Accounts.Repo.Refresh(ctx, accID); err != nil {
			return "", events.Position{}, err
		}
		patch := account.Patch{DisplayName: &displayName}
		if phone != "" {
			patch.Phone = &phone
		}
		if email != "" {
			patch.Email = &email
		}
		pos, _, err = c.Accounts.Repo.Update(ctx, accID, meta, func(acc *account.Account) (events.Decision, error) {
			evs, err := acc.Update(patch, "verify")
			if err != nil {
				return events.Decision{}, err
			}
			v, err := acc.Verified(a.ID, ans.ExternalID, method, ans.Roles, ans.Orgs)
			return events.Decision{Events: append(evs, v...)}, err
		})
	}
	if err != nil {
		return "", events.Position{}, usecase.Translate(err)
	}
	if c.Grants != nil {
		for _, r := range ans.Roles {
			_, p, err := c.Grants.Grant(ctx, meta, accID, role.Grant{Role: r})
			if err != nil {
				c.Log.Info("verified role not granted", "app", a.ID, "role", r, "err", err)
				continue
			}
			pos = pos.Max(p)
		}
		for _, o := range ans.Orgs {
			_, p, err := c.Grants.AddMember(ctx, meta, o, accID)
			if err != nil {
				c.Log.Info("verified org membership not added", "app", a.ID, "org", o, "err", err)
				continue
			}
			pos = pos.Max(p)
		}
	}
	return accID, pos, nil
}

// verifying reports whether an app's accounts come from a verify source.
func verifying(a projections.App) bool { return a.AccountSource.Mode == app.SourceVerify }
