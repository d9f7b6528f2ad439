package delivery

import (
	"context"
	"fmt"
	"sync"

	"github.com/bindery/bindery/domain"
	dwebhook "github.com/bindery/bindery/domain/webhook"
	"github.com/bindery/bindery/projections"
)

// Failed lists up to limit parked deliveries of a webhook, oldest first,
// and whether more exist.
func (f *Forwarder) Failed(ctx context.Context, id string, limit int) ([]Parked, bool, error) {
	if _, ok := f.regs.Get(id); !ok {
		return nil, false, dwebhook.ErrNotFound
	}
	return f.park.list(ctx, id, limit)
}

// RedeliverResult says what a redelivery did with each parked event.
type RedeliverResult struct {
	Redelivered []string          `json:"redelivered"`
	Failed      []RedeliveryError `json:"failed"`
	NotFound    []string          `json:"not_found"`
}

// RedeliveryError is a parked event that failed again (it stays parked).
type RedeliveryError struct {
	EventID string `json:"event_id"`
	Error   string `json:"error"`
}

// MaxRedeliver bounds the parked events one redelivery call sends.
const MaxRedeliver = 1000

// Redeliver sends parked events of a webhook again, once each, at most
// PerWebhook at a time: all of them (up to MaxRedeliver) when eventIDs is
// empty. A delivered event leaves the poison queue; one that fails stays,
// with its attempts and last error updated. When the first redeliveries all
// fail, the rest are reported without being sent. A success closes the
// webhook's circuit breaker.
func (f *Forwarder) Redeliver(ctx context.Context, id string, eventIDs []string) (RedeliverResult, error) {
	w, ok := f.regs.Get(id)
	if !ok {
		return RedeliverResult{}, dwebhook.ErrNotFound
	}
	parked, _, err := f.park.list(ctx, id, MaxRedeliver)
	if err != nil {
		return RedeliverResult{}, err
	}
	res := RedeliverResult{Redelivered: []string{}, Failed: []RedeliveryError{}, NotFound: []string{}}
	if len(eventIDs) > 0 {
		byID := map[string]Parked{}
		for _, p := range parked {
			byID[p.EventID] = p
		}
		parked = parked[:0]
		seen := map[string]bool{}
		for _, e := range eventIDs {
			p, ok := byID[e]
			switch {
			case seen[e]:
			case !ok:
				res.NotFound = append(res.NotFound, e)
			default:
				parked = append(parked, p)
			}
			seen[e] = true
		}
	}
	// A receiver that is still down would make this call wait for every
	// timeout: after giveUp failures and no success, the rest is not sent.
	giveUp := max(f.opts.BreakerAfter, f.opts.PerWebhook)
	var mu sync.Mutex
	failures, successes := 0, 0
	outcome := make([]error, len(parked))
	slots := make(chan struct{}, f.opts.PerWebhook)
	var wg sync.WaitGroup
	for i, p := range parked {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			mu.Lock()
			hopeless := successes == 0 && failures >= giveUp
			mu.Unlock()
			if hopeless {
				outcome[i] = fmt.Errorf("not sent: the first %d redeliveries failed", giveUp)
				return
			}
			err := f.redeliverOne(ctx, w, p)
			mu.Lock()
			if err == nil {
				successes++
			} else {
				failures++
			}
			mu.Unlock()
			outcome[i] = err
		}()
	}
	wg.Wait()
	for i, p := range parked {
		if outcome[i] == nil {
			res.Redelivered = append(res.Redelivered, p.EventID)
		} else {
			res.Failed = append(res.Failed, RedeliveryError{EventID: p.EventID, Error: outcome[i].Error()})
		}
	}
	if len(res.Redelivered) > 0 {
		f.resetLane(id)
	}
	f.log.Info("webhook redelivery", "webhook", id, "redelivered", len(res.Redelivered), "failed", len(res.Failed), "not_found", len(res.NotFound))
	return res, nil
}

func (f *Forwarder) redeliverOne(ctx context.Context, w projections.Webhook, p Parked) error {
	p.Attempts++
	if err := f.post(ctx, w, p.EventID, p.Event, p.Attempts); err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // the caller went away: not the webhook's failure
		}
		p.LastError = err.Error()
		if perr := f.park.put(ctx, p); perr != nil {
			f.log.Error("webhook: update parked delivery", "webhook", w.ID, "event_id", p.EventID, "err", perr)
		}
		return err
	}
	f.opts.Metrics.WebhookDelivery.WithLabelValues(ResultDelivered).Inc()
	return f.park.remove(ctx, p)
}

// Purge drops every parked delivery of a webhook (after it was deleted).
func (f *Forwarder) Purge(ctx context.Context, id string) error {
	if !dwebhook.ValidID(id) {
		return domain.Invalid("webhook id")
	}
	return f.park.purge(ctx, id)
}
