package events

// WebhookRegistered: an administrator registered a webhook (aggregate
// webhook/<id>, in the history stream). SecretSealed is the signing secret
// sealed under the master key (aad "webhook-secret:<id>"), never the secret.
// Events holds short event names (account_created) or "*".
type WebhookRegistered struct {
	WebhookID    string   `json:"webhook_id"`
	URL          string   `json:"url"`
	Events       []string `json:"events"`
	SecretSealed string   `json:"secret_sealed"`
}

func (WebhookRegistered) EventName() string { return "webhook_registered" }

// WebhookUpdated: the webhook's URL or event filter changed (both carry the
// full new value), or its secret was replaced (SecretSealed is empty when
// the secret stayed).
type WebhookUpdated struct {
	WebhookID    string   `json:"webhook_id"`
	URL          string   `json:"url"`
	Events       []string `json:"events"`
	SecretSealed string   `json:"secret_sealed,omitempty"`
}

func (WebhookUpdated) EventName() string { return "webhook_updated" }

// WebhookDeleted: the webhook receives nothing more. Its id may be
// registered again later.
type WebhookDeleted struct {
	WebhookID string `json:"webhook_id"`
}

func (WebhookDeleted) EventName() string { return "webhook_deleted" }
