package server

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/adapters/relay"
	"github.com/bindery/bindery/internal/crypto/datakeys"
	"github.com/bindery/bindery/internal/crypto/secrets"
)

// privacy is what SPEC §8 adds to the wiring: the data keys personal values
// are sealed under (and the retired master keys), the key of the keyed hashes that name uniqueness
// claims, and the key the projection snapshot is sealed under.
type privacy struct {
	claimKey    []byte
	snapshotBox *secrets.Box
}

// openPrivacy opens the keyring and makes reg seal and open personal values
// with it.
func (a *App) openPrivacy(ctx context.Context, reg *events.Registry) (privacy, error) {
	js, err := jetstream.New(a.Conn)
	if err != nil {
		return privacy{}, err
	}
	a.Keys, err = datakeys.Open(ctx, js, a.Box, datakeys.Options{Replicas: a.Config.Replicas, AuthMaxAge: a.Config.AuthLogMaxAge})
	if err != nil {
		return privacy{}, err
	}
	reg.UseSealer(a.Keys)
	// The secrets the history holds (app, client and webhook secrets,
	// password hashes) were sealed under whichever master key was current
	// then, and the history is never rewritten: after a rotation they open
	// through the retired keys the keyring keeps.
	a.Box = a.Box.WithRetired(a.Keys.Retired()...)
	var p privacy
	if p.claimKey, err = a.Keys.ServerSecret(ctx, "index"); err != nil {
		return privacy{}, err
	}
	snap, err := a.Keys.ServerSecret(ctx, "snapshot")
	if err != nil {
		return privacy{}, err
	}
	if p.snapshotBox, err = secrets.NewBox(snap); err != nil {
		return privacy{}, fmt.Errorf("snapshot key: %w", err)
	}
	return p, nil
}

// startRelay runs the public relay when BINDERY_PUBLIC_RELAY is on: opened
// copies of the events on bindery.public.>, kept for
// BINDERY_PUBLIC_MAX_AGE, purged of a person when the account is erased.
func (a *App) startRelay(ctx context.Context) error {
	if !a.Config.PublicRelay {
		return nil
	}
	r, err := relay.New(ctx, a.Store.JetStream(), relay.Options{
		MaxAge: a.Config.PublicMaxAge, Replicas: a.Config.Replicas, Sealer: a.Keys, Logger: a.Log,
	})
	if err != nil {
		return err
	}
	a.Relay = r
	r.Start()
	return nil
}
