package projections_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/projections"
)

func TestAppsView(t *testing.T) {
	v := projections.NewApps()
	at := time.Unix(1_700_000_000, 0).UTC()
	apply := func(e events.Event, d time.Duration) {
		v.Apply(events.Record{Event: e, Envelope: events.Envelope{Time: at.Add(d)}})
	}
	apply(events.AppRegistered{AppID: "b", AppSettings: events.AppSettings{Kind: "host", SecretSealed: "v1:x", MatchRules: []string{"openid"}}}, 0)
	apply(events.AppRegistered{AppID: "a", AppSettings: events.AppSettings{Kind: "wechat", WeChatAppID: "wx1", SecretSealed: "v1:y", MatchRules: []string{"unionid"}}}, time.Second)
	apply(events.AppUpdated{AppID: "a", AppSettings: events.AppSettings{Kind: "wechat", WeChatAppID: "wx2", SecretSealed: "v1:y", MatchRules: []string{"openid"}}}, 2*time.Second)
	a, ok := v.Get("a")
	if !ok || a.WeChatAppID != "wx2" || a.MatchRules[0] != "openid" || !a.CreatedAt.Equal(at.Add(time.Second)) || !a.UpdatedAt.Equal(at.Add(2*time.Second)) {
		t.Fatalf("app a: %+v", a)
	}
	a.MatchRules[0] = "changed" // a copy
	if again, _ := v.Get("a"); again.MatchRules[0] != "openid" {
		t.Fatal("Get shares state")
	}
	snap, err := v.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	w := projections.NewApps()
	if err := w.Restore(snap); err != nil {
		t.Fatal(err)
	}
	again, _ := w.Snapshot()
	if !bytes.Equal(snap, again) || bytes.Index(snap, []byte(`"id":"a"`)) > bytes.Index(snap, []byte(`"id":"b"`)) {
		t.Fatalf("snapshot not deterministic or not sorted: %s", snap)
	}
	if ids := w.IDs(); len(ids) != 2 || ids[0] != "a" {
		t.Fatalf("ids %v", ids)
	}
	if err := w.Restore(nil); err != nil || len(w.IDs()) != 0 {
		t.Fatal("Restore(nil) did not reset")
	}
}
