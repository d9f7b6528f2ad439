package projections

// Set is every view the server runs, freshly made. The server feeds it to
// its Engine; binderyctl audit replay rebuilds the same set from the
// streams and compares it with the server's, so a view added to the server
// belongs here (a field, a line in NewSet, a line in All).
type Set struct {
	Accounts *Accounts
	Authz    *Authz
	Webhooks *Webhooks
	Apps     *Apps
	QRs      *QRSessions
	OIDC     *OIDCClients
}

// NewSet returns empty views.
func NewSet() *Set {
	return &Set{
		Accounts: NewAccounts(),
		Authz:    NewAuthz(),
		Webhooks: NewWebhooks(),
		Apps:     NewApps(),
		QRs:      NewQRSessions(),
		OIDC:     NewOIDCClients(),
	}
}

// All lists the views in the order the engine applies them.
func (s *Set) All() []Projection {
	return []Projection{s.Accounts, s.Authz, s.Webhooks, s.Apps, s.QRs, s.OIDC}
}
