// Package otpsend delivers one-time codes: to an SMS gateway's webhook (a
// signed JSON POST), by e-mail over SMTP, or — in dev mode only — to the
// log. It never logs a code outside dev mode.
package otpsend

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"strings"
	"time"
)

// Channels.
const (
	SMS   = "sms"
	Email = "email"
)

// ErrNoRoute reports a channel with no way out configured.
var ErrNoRoute = errors.New("otpsend: no delivery configured for this channel")

// Message is one code to deliver (the webhook's JSON body).
type Message struct {
	Channel   string `json:"channel"`
	To        string `json:"to"`
	Code      string `json:"code"`
	App       string `json:"app"`
	ExpiresIn int    `json:"expires_in"`
}

// Config says where codes go.
type Config struct {
	WebhookURL    string // BINDERY_OTP_WEBHOOK: every channel, unless SMTP takes e-mail
	WebhookSecret string // BINDERY_OTP_WEBHOOK_SECRET
	SMTPURL       string // BINDERY_SMTP_URL: smtp(s)://user:pass@host:port?from=addr
	Dev           bool   // print codes to the log (and nowhere else) when nothing else is set
	Logger        *slog.Logger
	HTTPClient    *http.Client
	Timeout       time.Duration // per delivery; default 10 s
}

// Sender delivers codes. It is safe for concurrent use.
type Sender struct {
	cfg  Config
	smtp *smtpConfig
}

type smtpConfig struct {
	addr, host, from string
	user, pass       string
	implicitTLS      bool
}

// New checks the configuration and returns a Sender.
func New(cfg Config) (*Sender, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	s := &Sender{cfg: cfg}
	if cfg.SMTPURL != "" {
		u, err := url.Parse(cfg.SMTPURL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			return nil, errors.New("BINDERY_SMTP_URL: must look like smtp://user:pass@host:587?from=noreply@example.com")
		}
		sc := &smtpConfig{host: u.Hostname(), from: u.Query().Get("from"), implicitTLS: u.Scheme == "smtps"}
		port := u.Port()
		if port == "" {
			port = map[bool]string{true: "465", false: "587"}[sc.implicitTLS]
		}
		sc.addr = net.JoinHostPort(sc.host, port)
		if u.User != nil {
			sc.user = u.User.Username()
			sc.pass, _ = u.User.Password()
		}
		if sc.from == "" {
			return nil, errors.New("BINDERY_SMTP_URL: the from= query parameter (sender address) is required")
		}
		s.smtp = sc
	}
	return s, nil
}

// Supports reports whether codes of the channel can go out.
func (s *Sender) Supports(channel string) bool {
	switch channel {
	case Email:
		return s.smtp != nil || s.cfg.WebhookURL != "" || s.cfg.Dev
	case SMS:
		return s.cfg.WebhookURL != "" || s.cfg.Dev
	}
	return false
}

// Send delivers m: e-mail over SMTP when configured, otherwise the webhook,
// otherwise (dev mode) the log.
func (s *Sender) Send(ctx context.Context, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	switch {
	case m.Channel == Email && s.smtp != nil:
		return s.mail(ctx, m)
	case s.cfg.WebhookURL != "" && (m.Channel == SMS || m.Channel == Email):
		return s.webhook(ctx, m)
	case s.cfg.Dev && (m.Channel == SMS || m.Channel == Email):
		s.cfg.Logger.Info("one-time code (dev mode only; configure BINDERY_OTP_WEBHOOK or BINDERY_SMTP_URL)",
			"channel", m.Channel, "to", m.To, "code", m.Code, "app", m.App)
		return nil
	}
	return ErrNoRoute
}

// Sign is the X-Bindery-Signature value of a body: sha256=<hex HMAC-SHA256>.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func (s *Sender) webhook(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return errors.New("otpsend: bad webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Bindery-Signature", Sign(s.cfg.WebhookSecret, body))
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry a gateway's key
		}
		return fmt.Errorf("otpsend: webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("otpsend: webhook answered HTTP %d", resp.StatusCode)
	}
	return nil
}

func (s *Sender) mail(ctx context.Context, m Message) error {
	sc := s.smtp
	if strings.ContainsAny(m.To, "\r\n") {
		return errors.New("otpsend: bad address")
	}
	msg := "From: " + sc.from + "\r\nTo: " + m.To + "\r\nSubject: Your verification code\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Your verification code is " + m.Code + ". It expires in " + fmt.Sprint(m.ExpiresIn/60) + " minutes.\r\n" +
		"If you did not ask for it, ignore this message.\r\n"
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", sc.addr)
	if err != nil {
		return fmt.Errorf("otpsend: smtp: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if sc.implicitTLS {
		conn = tls.Client(conn, &tls.Config{ServerName: sc.host, MinVersion: tls.VersionTLS12})
	}
	c, err := smtp.NewClient(conn, sc.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("otpsend: smtp: %w", err)
	}
	defer c.Close()
	if !sc.implicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(&tls.Config{ServerName: sc.host, MinVersion: tls.VersionTLS12}); err != nil {
				return fmt.Errorf("otpsend: smtp starttls: %w", err)
			}
		}
	}
	if sc.user != "" {
		// PlainAuth refuses to send credentials over an unencrypted
		// connection to anything but localhost.
		if err := c.Auth(smtp.PlainAuth("", sc.user, sc.pass, sc.host)); err != nil {
			return fmt.Errorf("otpsend: smtp auth: %w", err)
		}
	}
	if err := c.Mail(sc.from); err != nil {
		return fmt.Errorf("otpsend: smtp: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("otpsend: smtp: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("otpsend: smtp: %w", err)
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return fmt.Errorf("otpsend: smtp: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("otpsend: smtp: %w", err)
	}
	return c.Quit()
}
