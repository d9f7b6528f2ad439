package main

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/crypto/datakeys"
	"github.com/bindery/bindery/internal/crypto/secrets"
)

// openKeyring opens the data keys personal values are sealed under, when
// the master key is given (BINDERY_MASTER_KEY, or the key file in
// BINDERY_DATA_DIR); without one it answers nil and the tools show sealed
// values as they are stored (SPEC §8). The caller closes the keyring.
func (c *cli) openKeyring(ctx context.Context, js jetstream.JetStream) (*datakeys.Keyring, error) {
	env, dir := c.getenv(secrets.EnvVar), c.getenv("BINDERY_DATA_DIR")
	if env == "" && dir == "" {
		return nil, nil
	}
	key, err := secrets.LoadMasterKey(env, dir, false)
	if err != nil {
		return nil, err
	}
	box, err := secrets.NewBox(key)
	if err != nil {
		return nil, err
	}
	return datakeys.Open(ctx, js, box, datakeys.Options{})
}
