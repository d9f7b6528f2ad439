package events

// Aggregate types: the first token after SubjectPrefix in every event
// subject, and what Aggregate.Type holds. Stored history names them, so a
// value never changes.
const (
	AggregateAccount = "account"
	AggregateApp     = "app"
	AggregateRole    = "role"
	AggregateOrg     = "org"
	AggregateWebhook = "webhook"
	AggregateSession = "session"
	AggregateTicket  = "ticket"
	AggregateQR      = "qr"
	AggregateLogin   = "login"
	AggregateOTP     = "otp"
	// AggregateOIDCClient is a web app registered with the OpenID Provider.
	AggregateOIDCClient = "oidc_client"
	// AggregateAuthorization is one OIDC authorization request (auth log).
	AggregateAuthorization = "authorization"
	// AggregateBrowserSession is a browser signed in for SSO (auth log).
	AggregateBrowserSession = "browser_session"
)
