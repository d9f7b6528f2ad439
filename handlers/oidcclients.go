package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/bindery/bindery/domain/oidcclient"
	appoidc "github.com/bindery/bindery/internal/app/oidc"
)

func (s *Server) oidcClientRoutes(e *echo.Echo) {
	if s.OIDCClients == nil || s.OIDCClientsV == nil {
		return
	}
	e.GET("/v1/oidc/clients", s.listOIDCClients, s.admin)
	e.PUT("/v1/oidc/clients/:client_id", s.putOIDCClient, s.admin)
	e.GET("/v1/oidc/clients/:client_id", s.getOIDCClient, s.admin)
	e.DELETE("/v1/oidc/clients/:client_id", s.deleteOIDCClient, s.admin)
}

type oidcClientRequest struct {
	Name                   string   `json:"name"`
	App                    string   `json:"app"`
	Type                   string   `json:"type"`
	Secret                 *string  `json:"secret"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri"`
	GrantTypes             []string `json:"grant_types"`
	Scopes                 []string `json:"scopes"`
}

// oidcClientAnswer is what a PUT answers: the registration as it now
// stands, the secret only as secret_set.
type oidcClientAnswer struct {
	ClientID               string   `json:"client_id"`
	Name                   string   `json:"name"`
	App                    string   `json:"app"`
	Type                   string   `json:"type"`
	SecretSet              bool     `json:"secret_set"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri,omitempty"`
	GrantTypes             []string `json:"grant_types"`
	Scopes                 []string `json:"scopes"`
}

func (s *Server) putOIDCClient(c echo.Context) error {
	var req oidcClientRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	id := c.Param("client_id")
	created, spec, pos, err := s.OIDCClients.Put(c.Request().Context(), s.adminMeta(c), id, appoidc.PutClient{
		Spec: oidcclient.Spec{
			Name: req.Name, App: req.App, Type: req.Type, RedirectURIs: req.RedirectURIs,
			PostLogoutRedirectURIs: req.PostLogoutRedirectURIs, BackchannelLogoutURI: req.BackchannelLogoutURI,
			GrantTypes: req.GrantTypes, Scopes: req.Scopes,
		},
		Secret: req.Secret,
	})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		c.Response().Header().Set(echo.HeaderLocation, "/v1/oidc/clients/"+id)
	}
	post := spec.PostLogoutRedirectURIs
	if post == nil {
		post = []string{}
	}
	return s.settledJSON(c, status, pos, oidcClientAnswer{
		ClientID: id, Name: spec.Name, App: spec.App, Type: spec.Type, SecretSet: spec.Type == oidcclient.Confidential,
		RedirectURIs: spec.RedirectURIs, PostLogoutRedirectURIs: post, BackchannelLogoutURI: spec.BackchannelLogoutURI,
		GrantTypes: spec.GrantTypes, Scopes: spec.Scopes,
	})
}

func (s *Server) getOIDCClient(c echo.Context) error {
	cl, ok := s.OIDCClientsV.Get(c.Param("client_id"))
	if !ok {
		return oidcclient.ErrNotFound
	}
	return c.JSON(http.StatusOK, cl)
}

func (s *Server) listOIDCClients(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"clients": s.OIDCClientsV.List()})
}

func (s *Server) deleteOIDCClient(c echo.Context) error {
	id := c.Param("client_id")
	pos, err := s.OIDCClients.Delete(c.Request().Context(), s.adminMeta(c), id)
	if err != nil {
		return err
	}
	return s.settledJSON(c, http.StatusOK, pos, map[string]any{"client_id": id, "deleted": true})
}
