// Package config reads the bindery server's settings from flags and
// environment variables (a flag wins) and checks them.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the server's configuration (SPEC §6).
type Config struct {
	HTTPAddr   string
	DataDir    string
	NATSURL    string
	NATSListen string
	// NATS credentials (SPEC §6): the passwords of the embedded server's
	// users bindery and downstream (empty: generated files in the data dir),
	// and a creds file for an external cluster.
	NATSPassword           string
	NATSDownstreamPassword string
	NATSCreds              string
	AdminToken             string
	// AdminTokens are every admin token by name (BINDERY_ADMIN_TOKENS, and
	// BINDERY_ADMIN_TOKEN as "admin"); events name the token's name.
	AdminTokens map[string]string
	Issuer      string
	// ConsoleApp is the app whose mini program the console's sign-in QR
	// opens (BINDERY_CONSOLE_APP; empty: the first app registered).
	ConsoleApp string
	// IDTokenAlg signs id_tokens: EdDSA (default) or ES256.
	IDTokenAlg    string
	WeChatAPIBase string
	Replicas      int
	QRTTL         time.Duration
	AuthLogMaxAge time.Duration
	// PublicRelay runs the public relay (BINDERY_PUBLIC_RELAY): opened
	// copies of the events on bindery.public.>, kept PublicMaxAge in
	// BINDERY_PUBLIC (SPEC §8). Off by default: that stream holds personal
	// values opened, on disk.
	PublicRelay      bool
	PublicMaxAge     time.Duration
	MasterKey        string
	RateLimit        float64
	TrustedProxies   []netip.Prefix
	OTPWebhook       string
	OTPWebhookSecret string
	SMTPURL          string
	LogLevel         string
	Dev              bool
	// NATSSync is when the embedded nats-server's writes reach the disk
	// (BINDERY_NATS_SYNC): "group" (the default) and "always" before
	// Bindery sees their acknowledgement, "interval" every NATSSyncInterval.
	NATSSync         string
	NATSSyncInterval time.Duration
	// AuditSealInterval is how often audit checkpoints are appended
	// (negative: only on demand).
	AuditSealInterval time.Duration
	// Webhook delivery: tries per event before it is parked, the wait
	// after the first failed try (doubling), and the per-request timeout.
	WebhookAttempts int
	WebhookBackoff  time.Duration
	WebhookTimeout  time.Duration
}

type setting struct {
	env, flag, def, help string
}

var settings = []setting{
	{"BINDERY_HTTP_ADDR", "http-addr", "127.0.0.1:8080", "HTTP listen address"},
	{"BINDERY_DATA_DIR", "data-dir", "./data", "data directory (embedded JetStream, snapshots, dev master key)"},
	{"BINDERY_NATS_URL", "nats-url", "", "external NATS server or cluster URL(s); empty embeds nats-server"},
	{"BINDERY_NATS_LISTEN", "nats-listen", "127.0.0.1:4222", "where the embedded NATS accepts clients, or off"},
	{"BINDERY_NATS_PASSWORD", "nats-password", "", "password of the NATS user bindery (empty: <data-dir>/nats-bindery.password, generated)"},
	{"BINDERY_NATS_DOWNSTREAM_PASSWORD", "nats-downstream-password", "", "password of the NATS user downstream (empty: <data-dir>/nats-downstream.password, generated)"},
	{"BINDERY_NATS_CREDS", "nats-creds", "", "NATS creds file (nkey/JWT) for an external cluster"},
	{"BINDERY_NATS_SYNC", "nats-sync", "group", "embedded NATS: on disk before acknowledged (group: shared syncs; always: one per write), or a background interval like 2m"},
	{"BINDERY_ADMIN_TOKEN", "admin-token", "", "bearer token of the admin API (required outside dev mode)"},
	{"BINDERY_ADMIN_TOKENS", "admin-tokens", "", "named admin tokens, name=token,name2=token2 (actor admin:<name> in events)"},
	{"BINDERY_ISSUER", "issuer", "", "token issuer URL (default http://<http-addr>)"},
	{"BINDERY_CONSOLE_APP", "console-app", "", "the app whose mini program opens the admin console's sign-in QR (default: the first app registered)"},
	{"BINDERY_ID_TOKEN_ALG", "id-token-alg", "EdDSA", "id_token signature algorithm: EdDSA (Ed25519) or ES256 (P-256, low-S)"},
	{"BINDERY_WECHAT_API_BASE", "wechat-api-base", "https://api.weixin.qq.com", "WeChat server API base URL"},
	{"BINDERY_REPLICAS", "replicas", "1", "stream replicas (1, or 3 on a cluster)"},
	{"BINDERY_QR_TTL", "qr-ttl", "300s", "QR login session lifetime"},
	{"BINDERY_AUTHLOG_MAX_AGE", "authlog-max-age", "2160h", "retention of the authentication log stream"},
	{"BINDERY_PUBLIC_RELAY", "public-relay", "off", "on: republish opened copies of the events on bindery.public.> (BINDERY_PUBLIC)"},
	{"BINDERY_PUBLIC_MAX_AGE", "public-max-age", "168h", "how long BINDERY_PUBLIC keeps the opened copies of events (bindery.public.>)"},
	{"BINDERY_MASTER_KEY", "master-key", "", "base64 of 32 bytes; empty reads <data-dir>/master.key"},
	{"BINDERY_RATE_LIMIT", "rate-limit", "20", "requests per second per client IP on public endpoints (0 = off)"},
	{"BINDERY_TRUSTED_PROXIES", "trusted-proxies", "", "comma-separated CIDRs whose X-Forwarded-For is believed"},
	{"BINDERY_OTP_WEBHOOK", "otp-webhook", "", "URL that one-time codes are POSTed to (SMS gateway)"},
	{"BINDERY_OTP_WEBHOOK_SECRET", "otp-webhook-secret", "", "HMAC secret signing OTP webhook bodies"},
	{"BINDERY_SMTP_URL", "smtp-url", "", "smtp://user:pass@host:port?from=addr for e-mailed one-time codes"},
	{"BINDERY_LOG_LEVEL", "log-level", "info", "debug, info, warn or error"},
	{"BINDERY_AUDIT_SEAL_INTERVAL", "audit-seal-interval", "10s", "how often audit checkpoints seal new events (1s-1h; 0 = only on demand)"},
	{"BINDERY_WEBHOOK_ATTEMPTS", "webhook-attempts", "5", "webhook delivery tries per event before it is parked (1-100)"},
	{"BINDERY_WEBHOOK_BACKOFF", "webhook-backoff", "1s", "wait after a failed webhook delivery, doubled after each (1ms-1h)"},
	{"BINDERY_WEBHOOK_TIMEOUT", "webhook-timeout", "10s", "timeout of one webhook request (10ms-5m)"},
}

// Usage lists every setting with its variable and default.
func Usage() string {
	var b strings.Builder
	for _, s := range settings {
		fmt.Fprintf(&b, "  -%-20s %-28s %s (default %q)\n", s.flag, s.env, s.help, s.def)
	}
	return b.String()
}

// Load parses args (without the program name) over the environment. dev
// turns on dev mode: admin token "dev" unless set, a generated master key.
func Load(args []string, getenv func(string) string, dev bool) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	fs := flag.NewFlagSet("bindery", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	vals := map[string]*string{}
	for _, s := range settings {
		v := getenv(s.env)
		if v == "" {
			v = s.def
		}
		vals[s.env] = fs.String(s.flag, v, s.help)
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("bad flag: %w (settings:\n%s)", err, Usage())
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	get := func(env string) string { return strings.TrimSpace(*vals[env]) }
	c := &Config{
		HTTPAddr: get("BINDERY_HTTP_ADDR"), DataDir: get("BINDERY_DATA_DIR"), NATSURL: get("BINDERY_NATS_URL"),
		NATSListen: get("BINDERY_NATS_LISTEN"), AdminToken: get("BINDERY_ADMIN_TOKEN"), Issuer: get("BINDERY_ISSUER"),
		WeChatAPIBase: strings.TrimRight(get("BINDERY_WECHAT_API_BASE"), "/"), MasterKey: get("BINDERY_MASTER_KEY"),
		OTPWebhook: get("BINDERY_OTP_WEBHOOK"), OTPWebhookSecret: get("BINDERY_OTP_WEBHOOK_SECRET"),
		SMTPURL: get("BINDERY_SMTP_URL"), LogLevel: get("BINDERY_LOG_LEVEL"), Dev: dev,
		NATSPassword: get("BINDERY_NATS_PASSWORD"), NATSDownstreamPassword: get("BINDERY_NATS_DOWNSTREAM_PASSWORD"),
		NATSCreds: get("BINDERY_NATS_CREDS"), ConsoleApp: get("BINDERY_CONSOLE_APP"),
	}
	var errs []error
	var err error
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("BINDERY_HTTP_ADDR", "%q is not host:port", c.HTTPAddr)
	}
	if c.DataDir == "" {
		bad("BINDERY_DATA_DIR", "must not be empty")
	}
	if c.NATSListen != "off" {
		if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
			bad("BINDERY_NATS_LISTEN", "%q is not host:port or off", c.NATSListen)
		}
	}
	if c.NATSCreds != "" {
		if c.NATSURL == "" {
			bad("BINDERY_NATS_CREDS", "is for an external cluster: set BINDERY_NATS_URL too")
		} else if _, err := os.Stat(c.NATSCreds); err != nil {
			bad("BINDERY_NATS_CREDS", "%v", err)
		}
	}
	switch v := get("BINDERY_NATS_SYNC"); v {
	case "group", "always":
		c.NATSSync = v
	default:
		c.NATSSync = "interval"
		if c.NATSSyncInterval, err = time.ParseDuration(v); err != nil || c.NATSSyncInterval < 10*time.Millisecond || c.NATSSyncInterval > 10*time.Minute {
			bad("BINDERY_NATS_SYNC", "group, always, or a duration between 10ms and 10m like 2m")
		}
	}
	if c.NATSSync != "group" && c.NATSURL != "" {
		bad("BINDERY_NATS_SYNC", "applies to the embedded server only: set sync_interval on the NATS servers of BINDERY_NATS_URL")
	}
	c.AdminTokens, errs = adminTokens(c.AdminToken, get("BINDERY_ADMIN_TOKENS"), dev, errs)
	if tok, ok := c.AdminTokens[AdminName]; ok {
		c.AdminToken = tok
	}
	if c.Issuer == "" {
		c.Issuer = "http://" + c.HTTPAddr
	}
	switch c.IDTokenAlg = get("BINDERY_ID_TOKEN_ALG"); c.IDTokenAlg {
	case "EdDSA", "ES256":
	default:
		bad("BINDERY_ID_TOKEN_ALG", "EdDSA or ES256")
	}
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		bad("BINDERY_ISSUER", "%q must be an http(s) URL without query or fragment", c.Issuer)
	}
	c.Issuer = strings.TrimRight(c.Issuer, "/")
	if u, err := url.Parse(c.WeChatAPIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("BINDERY_WECHAT_API_BASE", "%q must be an http(s) URL", c.WeChatAPIBase)
	}
	if c.Replicas, err = strconv.Atoi(get("BINDERY_REPLICAS")); err != nil || (c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5) {
		bad("BINDERY_REPLICAS", "must be 1, 3 or 5")
	} else if c.Replicas > 1 && c.NATSURL == "" {
		bad("BINDERY_REPLICAS", "%d replicas need a cluster: set BINDERY_NATS_URL", c.Replicas)
	}
	if c.QRTTL, err = time.ParseDuration(get("BINDERY_QR_TTL")); err != nil || c.QRTTL < 10*time.Second || c.QRTTL > time.Hour {
		bad("BINDERY_QR_TTL", "a duration between 10s and 1h, like 300s")
	}
	if c.AuthLogMaxAge, err = time.ParseDuration(get("BINDERY_AUTHLOG_MAX_AGE")); err != nil || c.AuthLogMaxAge < time.Hour {
		bad("BINDERY_AUTHLOG_MAX_AGE", "a duration of at least 1h, like 2160h")
	}
	switch get("BINDERY_PUBLIC_RELAY") {
	case "on":
		c.PublicRelay = true
	case "off":
	default:
		bad("BINDERY_PUBLIC_RELAY", "on or off")
	}
	if c.PublicMaxAge, err = time.ParseDuration(get("BINDERY_PUBLIC_MAX_AGE")); err != nil || c.PublicMaxAge < time.Minute || c.PublicMaxAge > 8760*time.Hour {
		bad("BINDERY_PUBLIC_MAX_AGE", "a duration between 1m and 8760h, like 168h")
	}
	if c.RateLimit, err = strconv.ParseFloat(get("BINDERY_RATE_LIMIT"), 64); err != nil || c.RateLimit < 0 {
		bad("BINDERY_RATE_LIMIT", "a number of requests per second, 0 for off")
	}
	if tp := get("BINDERY_TRUSTED_PROXIES"); tp != "" {
		for _, p := range strings.Split(tp, ",") {
			pr, err := netip.ParsePrefix(strings.TrimSpace(p))
			if err != nil {
				bad("BINDERY_TRUSTED_PROXIES", "%q is not a CIDR", p)
				continue
			}
			c.TrustedProxies = append(c.TrustedProxies, pr)
		}
	}
	if c.OTPWebhook != "" {
		if u, err := url.Parse(c.OTPWebhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			bad("BINDERY_OTP_WEBHOOK", "must be an http(s) URL")
		}
		if c.OTPWebhookSecret == "" {
			bad("BINDERY_OTP_WEBHOOK_SECRET", "required with BINDERY_OTP_WEBHOOK")
		}
	}
	if c.SMTPURL != "" {
		if u, err := url.Parse(c.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			bad("BINDERY_SMTP_URL", "must look like smtp://user:pass@host:587?from=noreply@example.com")
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("BINDERY_LOG_LEVEL", "debug, info, warn or error")
	}
	if c.WebhookAttempts, err = strconv.Atoi(get("BINDERY_WEBHOOK_ATTEMPTS")); err != nil || c.WebhookAttempts < 1 || c.WebhookAttempts > 100 {
		bad("BINDERY_WEBHOOK_ATTEMPTS", "a number of tries from 1 to 100")
	}
	if c.WebhookBackoff, err = time.ParseDuration(get("BINDERY_WEBHOOK_BACKOFF")); err != nil || c.WebhookBackoff < time.Millisecond || c.WebhookBackoff > time.Hour {
		bad("BINDERY_WEBHOOK_BACKOFF", "a duration between 1ms and 1h, like 1s")
	}
	if c.WebhookTimeout, err = time.ParseDuration(get("BINDERY_WEBHOOK_TIMEOUT")); err != nil || c.WebhookTimeout < 10*time.Millisecond || c.WebhookTimeout > 5*time.Minute {
		bad("BINDERY_WEBHOOK_TIMEOUT", "a duration between 10ms and 5m, like 10s")
	}
	if v := get("BINDERY_AUDIT_SEAL_INTERVAL"); v == "0" || v == "off" {
		c.AuditSealInterval = -1
	} else if c.AuditSealInterval, err = time.ParseDuration(v); err != nil || c.AuditSealInterval < time.Second || c.AuditSealInterval > time.Hour {
		bad("BINDERY_AUDIT_SEAL_INTERVAL", "a duration between 1s and 1h, like 10s, or 0 for only on demand")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}
