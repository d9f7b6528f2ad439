package login

import (
	"context"
	"time"

	"github.com/bindery/bindery/domain/role"
	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/otpsend"
	"github.com/bindery/bindery/internal/adapters/verify"
	"github.com/bindery/bindery/internal/adapters/wechat"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/projections"
)

// WeChat exchanges the codes a mini-program hands over (wechat.Client).
type WeChat interface {
	Code2Session(ctx context.Context, cred wechat.Credentials, code string) (wechat.Session, error)
	PhoneNumber(ctx context.Context, cred wechat.Credentials, code string) (wechat.Phone, error)
}

// Verifier asks a verify-mode app's account API about a user
// (verify.Client); verify.ErrRejected is its "no".
type Verifier interface {
	Password(ctx context.Context, endpoint, secret, username, password string) (verify.Answer, error)
	HostUser(ctx context.Context, endpoint, secret, uid string) (verify.Answer, error)
}

// OTPSender delivers one-time codes (otpsend.Sender).
type OTPSender interface {
	Supports(channel string) bool
	Send(ctx context.Context, m otpsend.Message) error
}

// Apps finds a login's app and opens its secrets (apps.Service).
type Apps interface {
	Get(ctx context.Context, id string) (projections.App, error)
	Secret(a projections.App) ([]byte, error)
	VerifySecret(a projections.App) ([]byte, error)
}

// AccountReader reads the account view (projections.Accounts): the claims
// a login signs into its id_token.
type AccountReader interface {
	Get(id string) (projections.Account, bool)
}

// PositionWaiter waits until the views have applied a position, or for
// the next applied event (projections.Engine).
type PositionWaiter interface {
	WaitFor(ctx context.Context, pos events.Position) error
	Changed() (<-chan struct{}, func())
}

// SessionIssuer prepares the session a login hands out (sessions.Service):
// the change to append and the tokens to answer once it is stored.
type SessionIssuer interface {
	Start(c sessions.IDClaims, app string, amr []string, now time.Time) (events.Change, sessions.Issued, error)
}

// Grants applies the roles and org memberships a verify source answers
// (authz.Service).
type Grants interface {
	Grant(ctx context.Context, meta events.Meta, accountID string, g role.Grant) (bool, events.Position, error)
	AddMember(ctx context.Context, meta events.Meta, orgID, accountID string) (bool, events.Position, error)
}
