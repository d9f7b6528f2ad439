package audit

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/crypto/secrets"
)

// Service is what the server runs for auditors: queries, the sealer, the
// signing keys and verification with the keys this server trusts.
type Service struct {
	Reader *Reader
	Sealer *Sealer
	Keys   *Keyring

	js     jetstream.JetStream
	cancel context.CancelFunc
	done   chan struct{}
}

// Options configure the service.
type Options struct {
	Replicas     int
	SealInterval time.Duration // 0 = DefaultSealInterval; < 0 = on demand only
	Logger       *slog.Logger
	// Bound and OnHeld are the sealer's (Sealer.Bound, Sealer.OnHeld).
	Bound  func(ctx context.Context, kind string) (uint64, bool)
	OnHeld func(kind string)
}

// New opens the signing keys (making them on first use).
func New(ctx context.Context, js jetstream.JetStream, box *secrets.Box, o Options) (*Service, error) {
	keys, err := OpenKeyring(ctx, js, box, o.Replicas)
	if err != nil {
		return nil, err
	}
	return &Service{
		Reader: &Reader{JS: js},
		Sealer: &Sealer{JS: js, Keys: keys, Interval: o.SealInterval, Log: o.Logger, Bound: o.Bound, OnHeld: o.OnHeld},
		Keys:   keys,
		js:     js,
	}, nil
}

// Start runs the sealer in the background until Close.
func (s *Service) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		s.Sealer.Run(ctx)
	}()
}

// Close stops the sealer.
func (s *Service) Close() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
}

// Events runs a query (see Reader.Events).
func (s *Service) Events(ctx context.Context, f Filter, emit func(Item) error) (Result, error) {
	return s.Reader.Events(ctx, f, emit)
}

// Seal covers what was appended since the last checkpoints.
func (s *Service) Seal(ctx context.Context) ([]Sealed, error) { return s.Sealer.Seal(ctx) }

// Verify checks both streams with the keys this server trusts.
func (s *Service) Verify(ctx context.Context) (Report, error) {
	v := &Verifier{JS: s.js, Keys: s.Keys.Set()}
	return v.Verify(ctx)
}
