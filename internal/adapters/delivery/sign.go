package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Headers of a webhook delivery.
const (
	HeaderSignature      = "X-Bindery-Signature" // sha256=<hex HMAC-SHA256(secret, body)>
	HeaderIdempotencyKey = "Idempotency-Key"     // the CloudEvent id
	HeaderWebhook        = "X-Bindery-Webhook"   // the webhook id
	HeaderAttempt        = "X-Bindery-Attempt"   // 1 for the first try of this event
	ContentType          = "application/cloudevents+json"
)

// Sign is the X-Bindery-Signature value of body under secret:
// "sha256=" + hex(HMAC-SHA256(secret, body)).
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks an X-Bindery-Signature value in constant time: what a
// receiver written in Go does before trusting a delivery.
func Verify(secret, body []byte, signature string) bool {
	hexSum, ok := strings.CutPrefix(signature, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}
