package oidcop

import (
	"testing"
	"time"
)

// A remembered token counts only as the very same bytes, before its exp,
// while its key is published; a full cache drops the expired first.
func TestVerifiedTokens(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	published := map[string]bool{"k1": true}
	isPublished := func(kid string) bool { return published[kid] }
	v := newVerifiedTokens(2)
	v.put("a.b.c", verifiedToken{jti: "j", sub: "s", kid: "k1", exp: now.Add(time.Minute)}, now)
	if e, ok := v.get("a.b.c", now, isPublished); !ok || e.jti != "j" || e.sub != "s" {
		t.Fatalf("remembered token: %+v %v", e, ok)
	}
	if _, ok := v.get("a.b.d", now, isPublished); ok {
		t.Fatal("other bytes matched")
	}
	if _, ok := v.get("a.b.c", now.Add(time.Minute), isPublished); ok {
		t.Fatal("counted at its exp")
	}
	published["k1"] = false
	if _, ok := v.get("a.b.c", now, isPublished); ok {
		t.Fatal("counted after its key was withdrawn")
	}
	published["k1"] = true
	v.put("x.y.z", verifiedToken{jti: "old", kid: "k1", exp: now.Add(-time.Second)}, now)
	v.put("p.q.r", verifiedToken{jti: "new", kid: "k1", exp: now.Add(time.Minute)}, now)
	if _, ok := v.get("a.b.c", now, isPublished); !ok {
		t.Fatal("a live entry was dropped while an expired one could go")
	}
	if len(v.entries) > 2 {
		t.Fatalf("%d entries in a cache of 2", len(v.entries))
	}
}
