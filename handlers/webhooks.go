package handlers

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain"
	dwebhook "github.com/bindery/bindery/domain/webhook"
	"github.com/bindery/bindery/internal/adapters/delivery"
	"github.com/bindery/bindery/internal/app/webhooks"
)

// WebhookDeliveries is the forwarder's admin surface: the latest attempts
// and the poison queue.
type WebhookDeliveries interface {
	Recent(ctx context.Context, id string) ([]delivery.Delivery, error)
	Failed(ctx context.Context, id string, limit int) ([]delivery.Parked, bool, error)
	Redeliver(ctx context.Context, id string, eventIDs []string) (delivery.RedeliverResult, error)
	Purge(ctx context.Context, id string) error
}

func (s *Server) webhookRoutes(e *echo.Echo) {
	if s.Webhooks == nil || s.WebhooksV == nil {
		return
	}
	e.GET("/v1/webhooks", s.listWebhooks, s.admin)
	e.PUT("/v1/webhooks/:id", s.putWebhook, s.admin)
	e.GET("/v1/webhooks/:id", s.getWebhook, s.admin)
	e.DELETE("/v1/webhooks/:id", s.deleteWebhook, s.admin)
	if s.WebhookDeliveries != nil {
		e.GET("/v1/webhooks/:id/deliveries", s.recentWebhookDeliveries, s.admin)
		e.GET("/v1/webhooks/:id/failed", s.failedWebhookDeliveries, s.admin)
		e.POST("/v1/webhooks/:id/redeliver", s.redeliverWebhook, s.admin)
	}
}

type webhookRequest struct {
	URL    string   `json:"url"`
	Secret *string  `json:"secret"`
	Events []string `json:"events"`
}

// webhookAnswer is what a PUT answers: the registration as it now stands
// (the view may not have applied it yet), the secret only as secret_set.
type webhookAnswer struct {
	ID        string   `json:"id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	SecretSet bool     `json:"secret_set"`
}

func (s *Server) putWebhook(c echo.Context) error {
	var req webhookRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	id := c.Param("id")
	created, spec, pos, err := s.Webhooks.Put(c.Request().Context(), s.adminMeta(c), id, webhooks.Put{
		URL: req.URL, Events: req.Events, Secret: req.Secret,
	})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		c.Response().Header().Set(echo.HeaderLocation, "/v1/webhooks/"+id)
	}
	return commandJSON(c, status, pos, webhookAnswer{ID: id, URL: spec.URL, Events: spec.Events, SecretSet: true})
}

func (s *Server) getWebhook(c echo.Context) error {
	w, ok := s.WebhooksV.Get(c.Param("id"))
	if !ok {
		return dwebhook.ErrNotFound
	}
	return c.JSON(http.StatusOK, w)
}

func (s *Server) listWebhooks(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"webhooks": s.WebhooksV.List()})
}

func (s *Server) deleteWebhook(c echo.Context) error {
	id := c.Param("id")
	pos, err := s.Webhooks.Delete(c.Request().Context(), s.adminMeta(c), id)
	if err != nil {
		return err
	}
	if s.WebhookDeliveries != nil {
		// Parked deliveries of a deleted webhook can never be redelivered.
		if err := s.WebhookDeliveries.Purge(c.Request().Context(), id); err != nil {
			s.log.Warn("webhook deleted, but its parked deliveries stay", "webhook", id, "err", err)
		}
	}
	return commandJSON(c, http.StatusOK, pos, map[string]any{"id": id, "deleted": true})
}

func (s *Server) recentWebhookDeliveries(c echo.Context) error {
	list, err := s.WebhookDeliveries.Recent(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"deliveries": list})
}

func (s *Server) failedWebhookDeliveries(c echo.Context) error {
	limit := 100
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > delivery.MaxRedeliver {
			return domain.Invalid("limit: a number from 1 to %d", delivery.MaxRedeliver)
		}
		limit = n
	}
	list, more, err := s.WebhookDeliveries.Failed(c.Request().Context(), c.Param("id"), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"failed": list, "more": more})
}

type redeliverRequest struct {
	EventIDs []string `json:"event_ids"`
}

func (s *Server) redeliverWebhook(c echo.Context) error {
	var req redeliverRequest
	if c.Request().ContentLength != 0 {
		if err := bind(c, &req); err != nil {
			return err
		}
	}
	if len(req.EventIDs) > delivery.MaxRedeliver {
		return domain.Invalid("event_ids: at most %d", delivery.MaxRedeliver)
	}
	for i, id := range req.EventIDs {
		canon, ok := canonicalID(id)
		if !ok {
			return domain.Invalid("event_ids: %q is not an event id (a UUID)", id)
		}
		req.EventIDs[i] = canon
	}
	res, err := s.WebhookDeliveries.Redeliver(c.Request().Context(), c.Param("id"), req.EventIDs)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}
