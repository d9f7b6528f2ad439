// Package server wires the bindery server: NATS (embedded or external), the
// event store, the projections, the services and the HTTP API.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/handlers"
	"github.com/bindery/bindery/handlers/console"
	"github.com/bindery/bindery/internal/adapters/delivery"
	"github.com/bindery/bindery/internal/adapters/relay"
	"github.com/bindery/bindery/internal/adapters/wechat"
	"github.com/bindery/bindery/internal/app/accounts"
	"github.com/bindery/bindery/internal/app/authz"
	"github.com/bindery/bindery/internal/app/login"
	"github.com/bindery/bindery/internal/app/qr"
	"github.com/bindery/bindery/internal/app/sessions"
	"github.com/bindery/bindery/internal/app/webhooks"
	"github.com/bindery/bindery/internal/audit"
	"github.com/bindery/bindery/internal/crypto/datakeys"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/crypto/tokens"
	"github.com/bindery/bindery/internal/server/config"
	"github.com/bindery/bindery/internal/server/metrics"
	"github.com/bindery/bindery/internal/server/natsrv"
	"github.com/bindery/bindery/projections"
)

// App is a running bindery server.
type App struct {
	Config   *config.Config
	Log      *slog.Logger
	Embedded *natsrv.Embedded
	Conn     *nats.Conn
	Store    *bjs.Store
	Engine   *projections.Engine
	Accounts *projections.Accounts
	Authz    *projections.Authz
	API      *handlers.Server
	Metrics  *metrics.Metrics
	Box      *secrets.Box
	// Keys are the data keys personal values are sealed under (privacy.go).
	Keys *datakeys.Keyring
	// Relay republishes opened copies on bindery.public.> (privacy.go).
	Relay *relay.Relay
	// Audit queries, seals and verifies the history.
	Audit    *audit.Service
	Signer   *tokens.Signer
	Sessions *sessions.Service
	// Apps is the view of login schemes; Login runs logins and binds
	// (login.go); WeChat is the one WeChat API client of the process.
	Apps   *projections.Apps
	Login  *login.Login
	WeChat *wechat.Client
	otpKey []byte
	// consoleKey seals the console's cookies (console.go).
	consoleKey []byte
	// Webhooks is the view of webhook registrations; Forwarder delivers
	// events to them.
	Webhooks  *projections.Webhooks
	Forwarder *delivery.Forwarder
	// BackChannel sends back-channel logout tokens (oidc.go).
	BackChannel *delivery.BackChannel
	// QRs is the view of QR login sessions; QR runs them (qr.go).
	QRs *projections.QRSessions
	QR  *qr.Service
	// OIDCClients is the view of registered OIDC clients (oidc.go).
	OIDCClients *projections.OIDCClients
	clock       func() time.Time // nil: time.Now (WithClock)

	stopKeys context.CancelFunc // ends the signing-key maintenance
	http     *http.Server
	listener net.Listener
}

// New connects to (or starts) NATS, opens the store and starts the
// projections. Serve starts the HTTP API.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...Option) (*App, error) {
	a := &App{Config: cfg, Log: log, Metrics: metrics.New()}
	for _, o := range opts {
		o(a)
	}
	key, err := secrets.LoadMasterKey(cfg.MasterKey, cfg.DataDir, cfg.Dev)
	if err != nil {
		return nil, err
	}
	if a.Box, err = secrets.NewBox(key); err != nil {
		return nil, fmt.Errorf("BINDERY_MASTER_KEY: %w", err)
	}
	a.otpKey = deriveOTPKey(key)
	a.consoleKey = deriveConsoleKey(key)
	if cfg.NATSURL == "" {
		pw, err := natsrv.LoadPasswords(cfg.DataDir, cfg.NATSPassword, cfg.NATSDownstreamPassword)
		if err != nil {
			return nil, err
		}
		a.Embedded, err = natsrv.Start(natsrv.Options{
			DataDir: cfg.DataDir, Listen: cfg.NATSListen, Passwords: pw,
			ReservedConsumers: []string{delivery.Durable, delivery.BackChannelDurable, relay.Durable},
			Sync:              cfg.NATSSync, SyncInterval: cfg.NATSSyncInterval,
		})
		if err != nil {
			return nil, err
		}
		a.Conn = a.Embedded.Conn
	} else {
		// Pings every 2 s, two unanswered ones end the connection: a node
		// that went dark (a partition, a dead host that sends no reset) is
		// left for another within seconds, not the client's default minutes.
		opts := []nats.Option{nats.Name("bindery"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(false),
			nats.CustomInboxPrefix(natsrv.InboxPrefix), nats.PingInterval(2 * time.Second), nats.MaxPingsOutstanding(2)}
		if cfg.NATSCreds != "" {
			opts = append(opts, nats.UserCredentials(cfg.NATSCreds))
		} else if cfg.NATSPassword != "" {
			// Another replica's embedded server: user bindery (a user in the
			// URL takes precedence).
			opts = append(opts, nats.UserInfo(natsrv.UserBindery, cfg.NATSPassword))
		}
		opts = append(opts, natsEventLogging(log)...)
		a.Conn, err = nats.Connect(cfg.NATSURL, opts...)
		if err != nil {
			return nil, fmt.Errorf("BINDERY_NATS_URL: cannot connect: %w", err)
		}
		log.Info("nats connected", "server", a.Conn.ConnectedServerName(), "url", a.Conn.ConnectedUrlRedacted())
	}
	if err := a.open(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) open(ctx context.Context) error {
	cfg := a.Config
	var err error
	reg := events.Catalogue()
	priv, err := a.openPrivacy(ctx, reg)
	if err != nil {
		return err
	}
	a.Store, err = bjs.Open(ctx, a.Conn, reg, bjs.Config{Replicas: cfg.Replicas, AuthLogMaxAge: cfg.AuthLogMaxAge, ClaimKey: priv.claimKey})
	if err != nil {
		return err
	}
	// The views come from projections.NewSet, which binderyctl audit replay
	// rebuilds too: a new view goes there, not here.
	views := projections.NewSet()
	a.Accounts, a.Authz, a.Webhooks, a.Apps, a.QRs, a.OIDCClients = views.Accounts, views.Authz, views.Webhooks, views.Apps, views.QRs, views.OIDC
	a.Engine = projections.New(a.Store.JetStream(), reg, projections.Options{
		SnapshotPath: filepath.Join(cfg.DataDir, "projections.snapshot.json"),
		SnapshotSeal: priv.snapshotBox,
		Logger:       a.Log,
		OnApply:      func(r events.Record) { a.Metrics.ObserveApplied(r.Stream, r.Envelope.Time) },
		OnChainBreak: func(b projections.ChainBreak) { a.Metrics.ChainBreaks.WithLabelValues(b.Stream).Inc() },
	}, views.All()...)
	if err := a.Engine.Start(ctx); err != nil {
		return err
	}
	if a.Audit, err = audit.New(ctx, a.Store.JetStream(), a.Box, audit.Options{
		Replicas: cfg.Replicas, SealInterval: cfg.AuditSealInterval, Logger: a.Log,
		Bound: a.Engine.SealBound, OnHeld: func(kind string) { a.Metrics.SealHeld.WithLabelValues(kind).Inc() },
	}); err != nil {
		return err
	}
	a.Audit.Reader.Erased = a.Keys.IsErased
	a.Audit.Start()
	accts := accounts.New(timedStore{a.Store, a.Metrics}, a.Box)
	accts.Repo.OnConflict = a.Metrics.Conflicts.Inc
	az := authz.New(timedStore{a.Store, a.Metrics})
	az.Roles.OnConflict = a.Metrics.Conflicts.Inc
	az.Orgs.OnConflict = a.Metrics.Conflicts.Inc
	hooks := webhooks.New(timedStore{a.Store, a.Metrics}, a.Box, reg)
	hooks.Repo.OnConflict = a.Metrics.Conflicts.Inc
	a.Forwarder, err = delivery.New(a.Store.JetStream(), a.Webhooks, a.Box, a.Engine.WaitFor, delivery.Options{
		Attempts: cfg.WebhookAttempts, Backoff: cfg.WebhookBackoff, Timeout: cfg.WebhookTimeout,
		Replicas: cfg.Replicas, Logger: a.Log, Metrics: a.Metrics, Sealer: a.Keys,
	})
	if err != nil {
		return err
	}
	if err := a.Forwarder.Start(ctx); err != nil {
		return err
	}
	if err := a.startRelay(ctx); err != nil {
		return err
	}
	keyStore, err := tokens.NewKVKeyStore(ctx, a.Store.JetStream(), cfg.Replicas)
	if err != nil {
		return err
	}
	if a.Signer, err = tokens.NewSigner(ctx, keyStore, a.Box, tokens.SignerOptions{Issuer: cfg.Issuer, Algorithm: cfg.IDTokenAlg}); err != nil {
		return err
	}
	keysCtx, stopKeys := context.WithCancel(context.Background())
	a.stopKeys = stopKeys
	go a.Signer.Maintain(keysCtx, time.Minute, func(err error) { a.Log.Warn("signing keys", "err", err) })
	erase := newErasures(a.Keys, a.Engine, a.Accounts, a.Log)
	accts.Shredder = erase
	go func() {
		if err := erase.reconcile(keysCtx); err != nil && keysCtx.Err() == nil {
			a.Log.Error("erasures left unfinished at start-up", "err", err)
		}
	}()
	a.Sessions = sessions.New(timedStore{a.Store, a.Metrics}, a.Signer, a.Accounts)
	a.Sessions.Repo.OnConflict = a.Metrics.Conflicts.Inc
	a.Sessions.Gate = accts
	apps, err := a.openLogin(accts, az)
	if err != nil {
		return err
	}
	logins := a.openQR(apps)
	sso, err := a.openOIDC(apps, logins)
	if err != nil {
		return err
	}
	a.API = handlers.New(handlers.Deps{
		Store: a.Store, Engine: a.Engine, Accounts: accts, AccountsV: a.Accounts,
		AdminToken: cfg.AdminToken, AdminTokens: cfg.AdminTokens, Logger: a.Log, Metrics: a.Metrics, Audit: a.Audit,
		Signer: a.Signer, Sessions: a.Sessions, RateLimit: cfg.RateLimit, TrustedProxies: cfg.TrustedProxies,
		Apps: apps, Login: a.Login,
		Authz: az, AuthzV: a.Authz,
		Webhooks: hooks, WebhooksV: a.Webhooks, WebhookDeliveries: a.Forwarder,
		QR: logins, Now: a.clock, StoreUnavailable: bjs.IsUnavailable,
		Demo:        demoSite(cfg),
		Sync:        a.openSync(accts),
		OIDCClients: sso.clients, OIDCClientsV: a.OIDCClients, OIDC: sso.provider, SignIn: sso.signIn,
		AdminAccess: sso.access, AdminClient: console.ClientID,
		Devices: sso.devices, Sealer: a.Keys,
	})
	a.mountConsole(sso.clients)
	return nil
}

// Serve listens on the configured address and serves until Close.
func (a *App) Serve() error {
	l, err := net.Listen("tcp", a.Config.HTTPAddr)
	if err != nil {
		return fmt.Errorf("BINDERY_HTTP_ADDR: %w", err)
	}
	a.listener = l
	a.http = a.NewHTTPServer()
	err = a.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// NewHTTPServer is an http.Server for the API with the server's limits,
// for a caller that runs it on its own listener (the dev stack, which
// opens its listeners before the issuer is known).
func (a *App) NewHTTPServer() *http.Server {
	return &http.Server{
		Handler:           a.API.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// Addr is where the HTTP API listens (after Serve started).
func (a *App) Addr() string {
	if a.listener == nil {
		return ""
	}
	return a.listener.Addr().String()
}

// Shutdown stops accepting requests and finishes those in flight.
func (a *App) Shutdown(ctx context.Context) {
	if a.http != nil {
		_ = a.http.Shutdown(ctx)
	}
}

// Close stops everything, writing a last projection snapshot.
func (a *App) Close() {
	if a.stopKeys != nil {
		a.stopKeys()
	}
	if a.Audit != nil {
		a.Audit.Close()
	}
	if a.BackChannel != nil {
		if err := a.BackChannel.Close(); err != nil {
			a.Log.Warn("back-channel logout close", "err", err)
		}
	}
	if a.Forwarder != nil {
		// First: deliveries in progress hand their events back to JetStream
		// while the connection is still up.
		if err := a.Forwarder.Close(); err != nil {
			a.Log.Warn("webhook forwarder close", "err", err)
		}
	}
	if a.Relay != nil {
		a.Relay.Close()
	}
	if a.Engine != nil {
		if err := a.Engine.Close(); err != nil {
			a.Log.Warn("projection snapshot on close", "err", err)
		}
	}
	if a.Keys != nil {
		a.Keys.Close()
	}
	if a.Embedded != nil {
		a.Embedded.Close()
	} else if a.Conn != nil {
		_ = a.Conn.Drain()
	}
}

// timedStore records append latency.
type timedStore struct {
	*bjs.Store
	m *metrics.Metrics
}

func (t timedStore) Append(ctx context.Context, meta events.Meta, changes ...events.Change) ([]events.Record, error) {
	start := time.Now()
	recs, err := t.Store.Append(ctx, meta, changes...)
	t.m.AppendDuration.Observe(time.Since(start).Seconds())
	return recs, err
}
