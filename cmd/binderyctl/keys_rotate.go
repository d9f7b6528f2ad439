package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/crypto/rotation"
	"github.com/bindery/bindery/internal/crypto/secrets"
	"github.com/bindery/bindery/internal/server/natsrv"
)

// EnvNewMasterKey carries the new master key when no --new-key-file is given.
const EnvNewMasterKey = "BINDERY_NEW_MASTER_KEY"

const rotateAbout = `Re-seals everything Bindery keeps in KV under the master key (data keys, the
server's own keys, retired master keys, token signing keys, audit checkpoint
keys) under a new master key, and keeps the old key, sealed under the new one,
for what the history holds sealed under it (it is never rewritten).

Stop every bindery replica first, then rotate, then start them with the new key
alone (BINDERY_MASTER_KEY, or <data dir>/master.key). The old key comes from
BINDERY_MASTER_KEY or <data dir>/master.key, the new one from --new-key-file or
BINDERY_NEW_MASTER_KEY; --generate writes a fresh one to --new-key-file first.
With --nats (BINDERY_NATS_URL) it works on that NATS; without, it opens the
data dir's embedded store itself (refused while bindery runs on it).

A run cut short leaves every entry opening with the new key alone; run it
again to finish: entries already re-sealed are skipped. Exit 1: stopped at
--limit, or entries left as they were (see the report).`

// keysRotate is "binderyctl keys rotate".
func keysRotate(ctx context.Context, c *cli, args []string) int {
	fs := c.flagSet("keys rotate", "--new-key-file FILE [--generate] [--nats URL | --data-dir DIR]", rotateAbout)
	newFile := fs.String("new-key-file", "", "file holding the new master key, base64 as master.key (else "+EnvNewMasterKey+")")
	generate := fs.Bool("generate", false, "write a fresh random key to --new-key-file (mode 0600; the file must not exist) and rotate to it")
	natsURL := fs.String("nats", c.getenv("BINDERY_NATS_URL"), "NATS URL(s) of the streams (BINDERY_NATS_URL); empty: the data dir's embedded store")
	dataDir := fs.String("data-dir", c.getenv("BINDERY_DATA_DIR"), "bindery's data dir (BINDERY_DATA_DIR): its master.key is the old key, its store is used without --nats")
	limit := fs.Int("limit", 0, "re-seal at most this many entries, then stop (0: all); a later run goes on")
	if code, done := parse(fs, args); done {
		return code
	}
	oldKey, err := secrets.LoadMasterKey(c.getenv(secrets.EnvVar), *dataDir, false)
	if err != nil {
		return c.fail("old master key: %v", err)
	}
	if *generate && *newFile == "" {
		return c.fail("--generate needs --new-key-file: where to write the key")
	}
	// The store first: a refused connection (bindery still running on
	// the data dir) leaves no generated key file behind.
	js, closeFn, err := c.rotationNATS(ctx, *natsURL, *dataDir)
	if err != nil {
		return c.fail("%v", err)
	}
	defer closeFn()
	newKey, err := c.newMasterKey(*newFile, *generate)
	if err != nil {
		return c.fail("new master key: %v", err)
	}
	var mu sync.Mutex // workers report concurrently
	bars := map[string]*progress{}
	var order []string
	rep, err := rotation.Rotate(ctx, js, oldKey, newKey, rotation.Options{
		Limit: *limit,
		Progress: func(part string, done, total int) {
			mu.Lock()
			defer mu.Unlock()
			p, ok := bars[part]
			if !ok {
				// A part starts when the one before it has ended.
				if n := len(order); n > 0 {
					bars[order[n-1]].finish()
				}
				p = newProgress(c.stderr, "re-sealing "+part)
				bars[part], order = p, append(order, part)
			}
			p.update(part, uint64(done), uint64(total))
		},
	})
	if n := len(order); n > 0 {
		bars[order[n-1]].finish()
	}
	clear(oldKey)
	clear(newKey)
	if errors.Is(err, rotation.ErrSameKey) {
		return c.fail("the new master key is the one in use: nothing to rotate")
	}
	c.printRotation(rep)
	if err != nil && !rep.Retired {
		return c.fail("nothing changed: %v", err)
	}
	if err != nil {
		return c.fail("rotation stopped: %v\nEvery entry opens with the new key alone already; run again to finish.", err)
	}
	return c.rotationVerdict(rep)
}

// newMasterKey reads (or, with generate, writes) the new key.
func (c *cli) newMasterKey(file string, generate bool) ([]byte, error) {
	switch {
	case generate:
		return secrets.NewKeyFile(file)
	case file != "":
		return secrets.ReadKeyFile(file)
	case c.getenv(EnvNewMasterKey) != "":
		key, err := secrets.ParseKey(c.getenv(EnvNewMasterKey))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvNewMasterKey, err)
		}
		return key, nil
	}
	return nil, fmt.Errorf("give --new-key-file, or set %s (or --generate --new-key-file FILE)", EnvNewMasterKey)
}

// rotationNATS connects to the NATS given, or, with none, runs the data
// dir's embedded server in this process without letting clients in; the
// store's lock refuses that while a bindery runs on it.
func (c *cli) rotationNATS(ctx context.Context, url, dataDir string) (jetstream.JetStream, func(), error) {
	if url != "" {
		nc, js, err := c.connectNATS(ctx, url)
		if err != nil {
			return nil, nil, err
		}
		return js, nc.Close, nil
	}
	if dataDir == "" {
		return nil, nil, errors.New("give --nats (BINDERY_NATS_URL) or --data-dir (BINDERY_DATA_DIR)")
	}
	if _, err := os.Stat(dataDir); err != nil {
		return nil, nil, fmt.Errorf("data dir: %w", err)
	}
	pw, err := natsrv.LoadPasswords(dataDir, c.getenv("BINDERY_NATS_PASSWORD"), c.getenv("BINDERY_NATS_DOWNSTREAM_PASSWORD"))
	if err != nil {
		return nil, nil, err
	}
	e, err := natsrv.Start(natsrv.Options{DataDir: dataDir, Listen: "off", Name: "binderyctl", Passwords: pw})
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(e.Conn)
	if err != nil {
		e.Close()
		return nil, nil, err
	}
	return js, e.Close, nil
}

func (c *cli) printRotation(rep rotation.Report) {
	if !rep.Retired {
		return
	}
	fmt.Fprintf(c.stdout, "master key %s -> %s\n", rep.Old, rep.New)
	for _, p := range rep.Parts {
		fmt.Fprintf(c.stdout, "%-13s %d re-sealed, %d already under the new key, %d gone meanwhile", p.Name+":", p.Resealed, p.Already, p.Gone)
		if p.Untrusted > 0 {
			fmt.Fprintf(c.stdout, ", %d opening under neither key (left untrusted)", p.Untrusted)
		}
		if p.Wiped > 0 {
			fmt.Fprintf(c.stdout, ", %d old revisions wiped", p.Wiped)
		}
		if p.Lingering && p.Resealed > 0 {
			fmt.Fprint(c.stdout, " (the bucket refuses deletes: the old revision is dropped, not overwritten)")
		}
		fmt.Fprintln(c.stdout)
	}
}

func (c *cli) rotationVerdict(rep rotation.Report) int {
	if rep.Stopped {
		fmt.Fprintln(c.stdout, "stopped at --limit: every entry opens with the new key alone already; run again to finish")
		return exitFailed
	}
	fmt.Fprintln(c.stdout, "done: start the replicas with the new key alone (the old one is kept, sealed under it)")
	for _, p := range rep.Parts {
		if p.Untrusted > 0 {
			return exitFailed
		}
	}
	return exitOK
}
