package natsrv_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/internal/server/natsrv"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Passwords not given are generated once into 0600 files and read back on
// the next start; given ones win and are not written.
func TestLoadPasswords(t *testing.T) {
	dir := t.TempDir()
	p1, err := natsrv.LoadPasswords(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p1.Bindery) < 32 || len(p1.Downstream) < 32 || p1.Bindery == p1.Downstream {
		t.Fatalf("generated %q %q", p1.Bindery, p1.Downstream)
	}
	for _, name := range []string{natsrv.BinderyPasswordFile, natsrv.DownstreamPasswordFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", name, fi, err)
		}
	}
	p2, err := natsrv.LoadPasswords(dir, "", "")
	if err != nil || p2 != p1 {
		t.Fatalf("second start: %+v %v, first %+v", p2, err, p1)
	}
	p3, err := natsrv.LoadPasswords(t.TempDir(), "bindery-password-0123456789", "downstream-password-0123456")
	if err != nil || p3.Bindery != "bindery-password-0123456789" || p3.Downstream != "downstream-password-0123456" {
		t.Fatalf("given: %+v %v", p3, err)
	}
	if _, err := natsrv.LoadPasswords(t.TempDir(), "short", ""); err == nil || !strings.Contains(err.Error(), "BINDERY_NATS_PASSWORD") {
		t.Fatalf("short password: %v", err)
	}
}

type server struct {
	*natsrv.Embedded
	url string
	pw  natsrv.Passwords
	js  jetstream.JetStream
}

func start(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	pw, err := natsrv.LoadPasswords(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	e, err := natsrv.Start(natsrv.Options{DataDir: dir, Listen: addr, Passwords: pw, ReservedConsumers: []string{"bindery-webhooks"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	js, err := jetstream.New(e.Conn)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BINDERY_HISTORY", Subjects: []string{"bindery.events.>", "bindery.claims.>"}}); err != nil {
		t.Fatal(err)
	}
	// Bindery's own consumer, which downstream must not reach.
	if _, err := js.CreateOrUpdateConsumer(ctx, "BINDERY_HISTORY", jetstream.ConsumerConfig{
		Durable: "bindery-webhooks", FilterSubject: "bindery.events.>", AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"bindery.events.account.a1.account_created", "bindery.claims.phone.x"} {
		if _, err := js.Publish(ctx, subj, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	return &server{Embedded: e, url: "nats://" + addr, pw: pw, js: js}
}

// violations collects the permission errors the server reports.
type violations struct {
	mu   sync.Mutex
	errs []string
}

func (v *violations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.errs = append(v.errs, err.Error())
}

func (v *violations) has(s string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, e := range v.errs {
		if strings.Contains(e, s) {
			return true
		}
	}
	return false
}

func TestAnonymousAndWrongPasswordRefused(t *testing.T) {
	s := start(t)
	if nc, err := nats.Connect(s.url); err == nil {
		nc.Close()
		t.Fatal("anonymous client connected")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous: %v", err)
	}
	if nc, err := nats.Connect(s.url, nats.UserInfo(natsrv.UserBindery, s.pw.Downstream)); err == nil {
		nc.Close()
		t.Fatal("bindery with the downstream password connected")
	}
	nc, err := nats.Connect(s.url, nats.UserInfo(natsrv.UserBindery, s.pw.Bindery))
	if err != nil {
		t.Fatalf("bindery: %v", err)
	}
	nc.Close()
}

// The downstream user reads events live and through its own durable
// consumer filtered to bindery.events.>, but cannot publish there, cannot
// read other subjects through a consumer, and cannot touch Bindery's own
// consumers.
func TestDownstreamPermissions(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	var v violations
	nc, err := nats.Connect(s.url, nats.UserInfo(natsrv.UserDownstream, s.pw.Downstream), nats.ErrorHandler(v.handler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "BINDERY_HISTORY", jetstream.ConsumerConfig{
		Durable: "crm", FilterSubject: "bindery.events.>", AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		t.Fatalf("durable consumer: %v", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		if m.Subject() != "bindery.events.account.a1.account_created" {
			t.Fatalf("got %s", m.Subject())
		}
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatalf("ack: %v", err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("fetched %d", n)
	}
	if info, err := cons.Info(ctx); err != nil || info.AckFloor.Stream != 1 {
		t.Fatalf("consumer info: %+v %v", info, err)
	}

	// A refused request gets no answer: each waits a little on its own.
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	// Refused: publishing an event (the forged role_granted of issue 13).
	if err := nc.Publish("bindery.events.account.a1.role_granted", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(short(), "bindery.events.account.a1.role_granted", []byte(`{}`), jetstream.WithExpectStream("BINDERY_HISTORY")); err == nil {
		t.Fatal("downstream published an event")
	}
	if _, err := js.CreateOrUpdateConsumer(short(), "BINDERY_HISTORY", jetstream.ConsumerConfig{Durable: "all"}); err == nil {
		t.Fatal("a consumer without a filter was created")
	}
	if _, err := js.CreateOrUpdateConsumer(short(), "BINDERY_HISTORY", jetstream.ConsumerConfig{Durable: "claims", FilterSubject: "bindery.claims.>"}); err == nil {
		t.Fatal("a consumer on the claims was created")
	}
	if _, err := js.CreateOrUpdateConsumer(short(), "BINDERY_HISTORY", jetstream.ConsumerConfig{
		Durable: "bindery-webhooks", FilterSubject: "bindery.events.account.>", AckPolicy: jetstream.AckExplicitPolicy,
	}); err == nil {
		t.Fatal("downstream changed Bindery's consumer")
	}
	if err := js.DeleteConsumer(short(), "BINDERY_HISTORY", "bindery-webhooks"); err == nil {
		t.Fatal("downstream deleted Bindery's consumer")
	}
	if err := js.DeleteStream(short(), "BINDERY_HISTORY"); err == nil {
		t.Fatal("downstream deleted the stream")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !v.has("Permissions Violation for Publish to \"bindery.events.account.a1.role_granted\"") {
		if time.Now().After(deadline) {
			t.Fatalf("no publish violation reported: %v", v.errs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Nothing was stored and Bindery's consumer is unchanged.
	st, err := s.js.Stream(ctx, "BINDERY_HISTORY")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != 2 {
		t.Fatalf("stream: %+v %v", info.State, err)
	}
	if c, err := st.Consumer(ctx, "bindery-webhooks"); err != nil || c.CachedInfo().Config.FilterSubject != "bindery.events.>" {
		t.Fatalf("bindery-webhooks: %v", err)
	}
	var names []string
	for name := range st.ConsumerNames(ctx).Name() {
		names = append(names, name)
	}
	if strings.Join(names, ",") != "bindery-webhooks,crm" && strings.Join(names, ",") != "crm,bindery-webhooks" {
		t.Fatalf("consumers: %v", names)
	}
	// Subscribing outside the public trees is refused too.
	if _, err := nc.SubscribeSync("bindery.claims.>"); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	for !v.has("Permissions Violation for Subscription to \"bindery.claims.>\"") {
		if time.Now().After(deadline) {
			t.Fatalf("no subscribe violation reported: %v", v.errs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
