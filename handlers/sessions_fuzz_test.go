package handlers

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/crypto/tokens"
	"github.com/bindery/bindery/projections"
)

// emptyStore holds no events and refuses appends: enough for inputs that
// must be turned away before anything is written.
type emptyStore struct{}

func (emptyStore) Append(context.Context, events.Meta, ...events.Change) ([]events.Record, error) {
	return nil, errors.New("emptyStore: read only")
}
func (emptyStore) Load(context.Context, events.Aggregate, uint64) ([]events.Record, error) {
	return nil, nil
}
func (emptyStore) Owner(context.Context, string, string) (string, error)     { return "", nil }
func (emptyStore) Version(context.Context, events.Aggregate) (uint64, error) { return 0, nil }
func (emptyStore) Head(context.Context) (events.Position, error)             { return events.Position{}, nil }

// FuzzSessionEndpoints: whatever arrives at the token endpoints answers a
// 4xx, never a panic or a 500.
func FuzzSessionEndpoints(f *testing.F) {
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	box, _ := secrets.NewBox(key)
	signer, err := tokens.NewSigner(context.Background(), tokens.NewMemoryKeyStore(), box, tokens.SignerOptions{Issuer: "https://id.example.com"})
	if err != nil {
		f.Fatal(err)
	}
	s := New(Deps{Signer: signer, Sessions: sessions.New(emptyStore{}, signer, projections.NewAccounts()), AccountsV: projections.NewAccounts()})
	valid := "0b6f1f4e-8d9a-4c55-9d6e-2f0c3b1a7e11.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, seed := range []struct {
		path, ctype, body string
	}{
		{"/v1/sessions/refresh", "application/json", `{"session_token":"` + valid + `"}`},
		{"/v1/sessions/revoke", "application/json", `{"session_token":"x.y"}`},
		{"/v1/sessions/refresh", "text/plain", `{}`},
		{"/oauth2/token", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=" + valid},
		{"/oauth2/token", "application/x-www-form-urlencoded", "grant_type=refresh_token&client_id=a&refresh_token=%zz"},
		{"/oauth2/token", "application/x-www-form-urlencoded; charset=utf-8", "grant_type=password"},
		{"/v1/userinfo", "", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.AAAA"},
	} {
		f.Add(seed.path, seed.ctype, seed.body)
	}
	f.Fuzz(func(t *testing.T, path, ctype, body string) {
		switch path {
		case "/v1/sessions/refresh", "/v1/sessions/revoke", "/oauth2/token", "/v1/userinfo":
		default:
			path = "/oauth2/token"
		}
		method := http.MethodPost
		if path == "/v1/userinfo" {
			method = http.MethodGet
		}
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		if method == http.MethodGet {
			r.Header.Set("Authorization", body)
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		if w.Code < 400 || w.Code >= 500 {
			t.Fatalf("%s %q %q: status %d %s", path, ctype, body, w.Code, w.Body)
		}
	})
}
