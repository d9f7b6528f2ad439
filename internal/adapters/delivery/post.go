package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/bindery/bindery/events"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/bindery/bindery/projections"
)

// attempt is one POST of the message to its webhook, as the webhook is now
// (its URL or secret may have changed since the event arrived).
func (f *Forwarder) attempt(m *message.Message) error {
	ctx := m.Context()
	if err := ctx.Err(); err != nil {
		return err
	}
	id := m.Metadata.Get(metaWebhook)
	w, ok := f.regs.Get(id)
	if !ok {
		return errGone
	}
	n, _ := strconv.Atoi(m.Metadata.Get(metaAttempts))
	n++
	m.Metadata.Set(metaAttempts, strconv.Itoa(n))
	if n > 1 {
		f.opts.Metrics.WebhookDelivery.WithLabelValues(ResultRetried).Inc()
	}
	// Webhooks get personal values opened (SPEC §8); the payload stays
	// sealed everywhere it is stored, the poison queue included.
	body, err := events.OpenEnvelope(f.opts.Sealer, m.Payload, events.ErasedNull)
	if err != nil {
		return err
	}
	began := f.opts.Now()
	err = f.post(ctx, w, m.UUID, body, n)
	if err != nil && ctx.Err() != nil {
		return ctx.Err() // shutting down: the event comes again, unnoted
	}
	d := Delivery{EventID: m.UUID, Type: eventType(body), Attempt: n, Delivered: err == nil, At: began.UTC(),
		Millis: f.opts.Now().Sub(began).Milliseconds()}
	if err != nil {
		d.Error = err.Error()
	}
	f.sent.record(id, d)
	if err != nil {
		f.log.Info("webhook delivery failed", "webhook", id, "event_id", m.UUID, "attempt", n, "err", err)
		return err
	}
	f.opts.Metrics.WebhookDelivery.WithLabelValues(ResultDelivered).Inc()
	return nil
}

// eventType reads the CloudEvent's type for the deliveries log.
func eventType(body []byte) string {
	var env struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &env)
	return env.Type
}

// post sends the CloudEvent to the webhook. Its errors never hold the URL
// (which may carry a token in its query) or anything the receiver sent.
func (f *Forwarder) post(ctx context.Context, w projections.Webhook, eventID string, body []byte, attempt int) error {
	secret, err := f.box.Open(w.SecretSealed, SecretAAD+w.ID)
	if err != nil {
		return fmt.Errorf("the webhook's secret cannot be opened (was the master key changed?): %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("the webhook URL is not usable")
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "Bindery-Webhooks/1")
	req.Header.Set(HeaderSignature, Sign(secret, body))
	req.Header.Set(HeaderIdempotencyKey, eventID)
	req.Header.Set(HeaderWebhook, w.ID)
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	resp, err := f.opts.Client.Do(req)
	if err != nil {
		var ue *url.Error
		switch {
		case ctx.Err() == context.DeadlineExceeded:
			return fmt.Errorf("no answer within %s", f.opts.Timeout)
		case errors.As(err, &ue):
			return ue.Err
		}
		return err
	}
	// Drain a little so the connection can be reused; the body is ignored.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
