package natsrv

import (
	"reflect"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// The users of examples/nats/users.conf (an external cluster, the compose
// file) are the embedded server's.
func TestExampleClusterUsersMatch(t *testing.T) {
	t.Setenv("BINDERY_NATS_PASSWORD", "bindery-password-0123456789")
	t.Setenv("BINDERY_NATS_DOWNSTREAM_PASSWORD", "downstream-password-0123456789")
	opts, err := server.ProcessConfigFile("../../../examples/nats/users.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := users(Passwords{Bindery: "bindery-password-0123456789", Downstream: "downstream-password-0123456789"}, []string{"bindery-webhooks", "bindery-public-relay"})
	if len(opts.Users) != len(want) {
		t.Fatalf("users: %d", len(opts.Users))
	}
	for i, u := range opts.Users {
		w := want[i]
		if u.Username != w.Username || u.Password != w.Password || !samePerms(u.Permissions, w.Permissions) {
			t.Fatalf("user %s: %+v, want %+v", u.Username, perms(u.Permissions), perms(w.Permissions))
		}
	}
}

func samePerms(a, b *server.Permissions) bool {
	return reflect.DeepEqual(perms(a), perms(b))
}

func perms(p *server.Permissions) [3][]string {
	if p == nil {
		return [3][]string{}
	}
	var out [3][]string
	if p.Publish != nil {
		out[0], out[1] = p.Publish.Allow, p.Publish.Deny
	}
	if p.Subscribe != nil {
		out[2] = p.Subscribe.Allow
	}
	return out
}
