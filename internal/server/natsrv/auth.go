package natsrv

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// The users of the embedded server (SPEC §6): Bindery itself and its tools
// with every right, and downstream readers of the public subjects.
const (
	UserBindery    = "bindery"
	UserDownstream = "downstream"
)

// InboxPrefix is the reply-subject prefix of Bindery's own connections, so
// that a downstream client, which may subscribe to _INBOX.>, never sees
// the answers Bindery's requests get (stored events, claims, keys).
const InboxPrefix = "_BINDERY_INBOX"

// Password files in the data directory, written on first start.
const (
	BinderyPasswordFile    = "nats-bindery.password"
	DownstreamPasswordFile = "nats-downstream.password"
)

// Passwords are the two users' passwords.
type Passwords struct {
	Bindery, Downstream string
}

// LoadPasswords returns the passwords: the given ones (from
// BINDERY_NATS_PASSWORD / BINDERY_NATS_DOWNSTREAM_PASSWORD) or, for each
// one empty, the content of its file in dataDir, generated (mode 0600) when
// the file does not exist yet.
func LoadPasswords(dataDir, bindery, downstream string) (Passwords, error) {
	var p Passwords
	var err error
	if p.Bindery, err = password(dataDir, BinderyPasswordFile, bindery, "BINDERY_NATS_PASSWORD"); err != nil {
		return p, err
	}
	if p.Downstream, err = password(dataDir, DownstreamPasswordFile, downstream, "BINDERY_NATS_DOWNSTREAM_PASSWORD"); err != nil {
		return p, err
	}
	if p.Bindery == p.Downstream {
		return p, errors.New("BINDERY_NATS_DOWNSTREAM_PASSWORD: must differ from BINDERY_NATS_PASSWORD")
	}
	return p, nil
}

func password(dataDir, name, given, env string) (string, error) {
	if given != "" {
		if len(given) < 16 {
			return "", fmt.Errorf("%s: too short: use at least 16 random characters", env)
		}
		return given, nil
	}
	path := filepath.Join(dataDir, name)
	data, err := os.ReadFile(path)
	if err == nil {
		pw := strings.TrimSpace(string(data))
		if len(pw) < 16 {
			return "", fmt.Errorf("%s: %s holds no usable password (delete it to have one generated)", env, path)
		}
		return pw, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", env, err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("%s: %w", env, err)
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	pw := base64.RawURLEncoding.EncodeToString(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("%s: write %s: %w", env, path, err)
	}
	if _, err := f.WriteString(pw + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("%s: write %s: %w", env, path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("%s: write %s: %w", env, path, err)
	}
	return pw, nil
}

// Public subject trees a downstream user may read.
var downstreamSubjects = []string{"bindery.events.>", "bindery.public.>"}

// users are the server's accounts: bindery unrestricted, downstream
// limited to reading the public subjects, live or through its own durable
// JetStream consumers filtered to them. reserved are Bindery's own
// consumer names, which a downstream user may neither read, change nor
// delete.
func users(p Passwords, reserved []string) []*server.User {
	pub := []string{
		"$JS.API.INFO",
		"$JS.API.STREAM.NAMES",
		"$JS.API.STREAM.INFO.*",
		"$JS.API.CONSUMER.INFO.*.*",
		"$JS.API.CONSUMER.NAMES.*",
		"$JS.API.CONSUMER.LIST.*",
		"$JS.API.CONSUMER.DELETE.*.*",
		"$JS.API.CONSUMER.MSG.NEXT.*.*",
		"$JS.ACK.>",
	}
	// Consumers are created only in the form that names their filter
	// subject, so the filter is checked here: nothing outside the public
	// trees (uniqueness claims, seals) can be read through a consumer.
	for _, s := range downstreamSubjects {
		pub = append(pub, "$JS.API.CONSUMER.CREATE.*.*."+s)
	}
	var deny []string
	for _, name := range reserved {
		deny = append(deny,
			"$JS.API.CONSUMER.*.*."+name,
			"$JS.API.CONSUMER.CREATE.*."+name+".>",
			"$JS.API.CONSUMER.MSG.NEXT.*."+name,
			"$JS.ACK.*."+name+".>",
			"$JS.ACK.*.*.*."+name+".>",
		)
	}
	return []*server.User{
		{Username: UserBindery, Password: p.Bindery},
		{Username: UserDownstream, Password: p.Downstream, Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: pub, Deny: deny},
			Subscribe: &server.SubjectPermission{Allow: append([]string{"_INBOX.>"}, downstreamSubjects...)},
		}},
	}
}
