package events

// Catalogue returns a registry of every event type Bindery has ever
// written. Add new types here; never remove one (old history must decode).
func Catalogue() *Registry {
	return NewRegistry(
		AccountCreated{}, AccountUpdated{}, AccountDisabled{}, AccountEnabled{}, AccountErased{},
		AppRegistered{}, AppUpdated{},
		IdentityBound{}, IdentityUnbound{}, AttributesBackfilled{}, AccountRegistered{}, AccountVerified{},
		LoginSucceeded{}, LoginFailed{}, LoginPendingBind{}, CodeSpent{},
		TicketIssued{}, TicketAttemptFailed{}, TicketOTPRequested{},
		OTPSent{}, OTPFailed{}, OTPVerified{},
		RoleDefined{}, RoleGranted{}, RoleRevoked{},
		OrgDefined{}, OrgPlaced{}, OrgMemberAdded{}, OrgMemberRemoved{},
		SessionIssued{}, SessionRefreshed{}, SessionRevoked{}, SessionReuseDetected{},
		WebhookRegistered{}, WebhookUpdated{}, WebhookDeleted{},
		QRCreated{}, QRScanned{}, QRConfirmed{}, QRConsumed{}, QRCancelled{}, QRExpired{},
		OIDCClientRegistered{}, OIDCClientUpdated{}, OIDCClientDeleted{},
		AuthorizationRequested{}, AuthorizationGranted{}, AuthorizationDenied{}, CodeExchanged{}, TokenRevoked{},
		AuthorizationSignInFailed{}, AuthorizationOTPRequested{},
		DeviceAuthorizationRequested{},
		BrowserSessionStarted{}, BrowserSessionEnded{}, BrowserSessionJoined{},
	)
}
