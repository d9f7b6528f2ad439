package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/highwayhash"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/audit"
	"github.com/bindery/bindery/internal/devtools/natstest"
)

// streamDir is where nats-server keeps a stream's files under a store dir.
func streamDir(dir, stream string) string {
	return filepath.Join(dir, "jetstream", "$G", "streams", stream)
}

// editRecord finds the stored record whose payload holds needle in the
// stream's block files and lets edit change its payload in place (same
// length), then rewrites the record's checksum so that nats-server serves
// the changed bytes as if they had been stored so: what an attacker with
// disk access would do.
func editRecord(t *testing.T, dir, stream string, needle []byte, edit func(payload []byte)) {
	t.Helper()
	const hbit = 1 << 31
	blocks, _ := filepath.Glob(filepath.Join(streamDir(dir, stream), "msgs", "*.blk"))
	for _, blk := range blocks {
		buf, err := os.ReadFile(blk)
		if err != nil {
			t.Fatal(err)
		}
		var index int
		if _, err := fmt.Sscanf(filepath.Base(blk), "%d.blk", &index); err != nil {
			t.Fatal(err)
		}
		for i := 0; i+22 <= len(buf); {
			rl := binary.LittleEndian.Uint32(buf[i:])
			hasHdr := rl&hbit != 0
			rl &^= hbit
			slen := int(binary.LittleEndian.Uint16(buf[i+20:]))
			rec := buf[i : i+int(rl)]
			body := rec[22+slen : len(rec)-8] // [hdr_len hdr] msg
			payload := body
			if hasHdr {
				hl := int(binary.LittleEndian.Uint32(body))
				payload = body[4+hl:]
			}
			if bytes.Contains(payload, needle) {
				edit(payload)
				key := sha256.Sum256(fmt.Appendf(nil, "%s-%d", stream, index))
				hh, _ := highwayhash.New64(key[:])
				hh.Write(rec[4:20])
				hh.Write(rec[22 : 22+slen])
				if hasHdr {
					hh.Write(body[4:])
				} else {
					hh.Write(body)
				}
				copy(rec[len(rec)-8:], hh.Sum(nil))
				if err := os.WriteFile(blk, buf, 0o600); err != nil {
					t.Fatal(err)
				}
				return
			}
			i += int(rl)
		}
	}
	t.Fatalf("no record holds %q", needle)
}

// recordOf returns the stored record of an event by its CloudEvent id.
func recordOf(t *testing.T, w *world, kind string, seq uint64) (id string, data []byte) {
	t.Helper()
	st, err := w.store.JetStream().Stream(context.Background(), bjs.StreamName(kind))
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := events.DecodeRecord(nil, kind, seq, m.Subject, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Envelope.ID, m.Data
}

func expectBad(t *testing.T, rep audit.Report, stream, reason string, seq uint64, id string) {
	t.Helper()
	f := rep.FirstBad
	if rep.OK || f == nil {
		t.Fatalf("verify passed a tampered store: %+v", rep)
	}
	if f.Stream != stream || f.Reason != reason || f.Seq != seq || (id != "" && f.ID != id) {
		t.Fatalf("first_bad = %+v, want %s %s at %d (id %q)", *f, stream, reason, seq, id)
	}
}

// A byte of one stored event changed on disk (with the block checksum
// redone): verify names that event as altered, whether or not its
// aggregate has later events.
func TestTamperAlteredOnDisk(t *testing.T) {
	for _, tc := range []struct {
		name string
		pick func(w *world) events.Record // the event to alter
	}{
		{"event with a successor", func(w *world) events.Record {
			recs := w.append(events.Aggregate{Type: "account", ID: w.ids[0]}, events.AccountDisabled{AccountID: w.ids[0], Reason: "abuse"})
			w.append(events.Aggregate{Type: "account", ID: w.ids[0]}, events.AccountEnabled{AccountID: w.ids[0]})
			return recs[0]
		}},
		{"last event of its aggregate", func(w *world) events.Record {
			return w.append(events.Aggregate{Type: "account", ID: w.ids[1]}, events.AccountDisabled{AccountID: w.ids[1], Reason: "abuse"})[0]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "")
			w.mixed(20)
			target := tc.pick(w)
			w.mixed(5)
			w.sealNow()
			if rep := w.verify(); !rep.OK {
				t.Fatalf("untouched: %+v", rep.FirstBad)
			}
			w.restart(func() {
				editRecord(t, w.dir, bjs.HistoryStream, []byte(`"reason":"abuse"`), func(p []byte) {
					i := bytes.Index(p, []byte(`"abuse"`))
					copy(p[i:], `"abusf"`)
				})
			})
			_, data := recordOf(t, w, events.StreamHistory, target.Sequence)
			if !bytes.Contains(data, []byte("abusf")) {
				t.Fatalf("the server does not serve the edited bytes: %s", data)
			}
			expectBad(t, w.verify(), events.StreamHistory, audit.ReasonAltered, target.Sequence, target.Envelope.ID)
		})
	}
}

// The history stream denies deletes; an attacker with disk access can
// lift that by editing the stream's meta.inf (and its highwayhash
// checksum in meta.sum), restart, delete a message through the API, and put
// the flag back. Verify names the gap.
func TestTamperDeletedMessage(t *testing.T) {
	w := newWorld(t, "")
	w.mixed(20)
	target := w.append(events.Aggregate{Type: "account", ID: w.ids[3]}, events.AccountDisabled{AccountID: w.ids[3]})[0]
	w.mixed(5)
	w.sealNow()
	w.stop()
	dir := streamDir(w.dir, bjs.HistoryStream)
	meta, err := os.ReadFile(filepath.Join(dir, "meta.inf"))
	if err != nil {
		t.Fatal(err)
	}
	meta = bytes.Replace(meta, []byte(`"deny_delete":true`), []byte(`"deny_delete":false`), 1)
	key := sha256.Sum256([]byte(bjs.HistoryStream))
	hh, _ := highwayhash.New64(key[:])
	hh.Write(meta)
	if err := os.WriteFile(filepath.Join(dir, "meta.inf"), meta, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "meta.sum"), []byte(hex.EncodeToString(hh.Sum(nil))), 0o600); err != nil {
		t.Fatal(err)
	}
	func() {
		ns := natstest.Server(t, w.dir)
		defer ns.Shutdown()
		nc := natstest.Connect(t, ns.ClientURL())
		defer nc.Close()
		js, _ := jetstream.New(nc)
		st, err := js.Stream(context.Background(), bjs.HistoryStream)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteMsg(context.Background(), target.Sequence); err != nil {
			t.Fatalf("delete after lifting deny_delete: %v", err)
		}
	}()
	w.open() // puts deny_delete back (an allowed update)
	expectBad(t, w.verify(), events.StreamHistory, audit.ReasonMissing, target.Sequence, "")
}

// rewrite re-creates a stream of a copied data dir from its messages,
// changed by edit: the stream is deleted (DenyDelete does not stop that)
// and made again with the same config. Sequences and timestamps are new;
// the payloads are the old ones.
func rewrite(t *testing.T, dir, stream string, edit func(msgs []*nats.Msg) []*nats.Msg) {
	t.Helper()
	ns := natstest.Server(t, dir)
	defer ns.Shutdown()
	nc := natstest.Connect(t, ns.ClientURL())
	defer nc.Close()
	ctx := context.Background()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	var msgs []*nats.Msg
	for seq := uint64(1); seq <= st.CachedInfo().State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		out := nats.NewMsg(m.Subject)
		out.Data = m.Data
		msgs = append(msgs, out)
	}
	if err := js.DeleteStream(ctx, stream); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for _, m := range edit(msgs) {
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
}

func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return to
}

// A copy of the data dir whose stream was rebuilt with a message removed,
// two swapped, one added, or a checkpoint edited: verify names the first
// message that does not fit, and the original is still intact.
func TestTamperRewrittenCopy(t *testing.T) {
	orig := newWorld(t, "")
	orig.mixed(25)
	orig.sealNow()
	orig.mixed(5)
	orig.sealNow()
	if rep := orig.verify(); !rep.OK {
		t.Fatalf("untouched: %+v", rep.FirstBad)
	}
	// Message 21 of the history (an account_updated; 22 is the next
	// account_created) is in the first checkpoint's range.
	const at = 21
	idAt, _ := recordOf(t, orig, events.StreamHistory, at)
	idNext, _ := recordOf(t, orig, events.StreamHistory, at+1)
	orig.stop()

	forged := func(m *nats.Msg) bool { return strings.HasPrefix(m.Subject, bjs.SealPrefix) }
	for _, tc := range []struct {
		name   string
		edit   func([]*nats.Msg) []*nats.Msg
		reason string
		seq    uint64
		id     string
	}{
		{"removed", func(ms []*nats.Msg) []*nats.Msg { return append(ms[:at-1:at-1], ms[at:]...) }, audit.ReasonMissing, at, ""},
		{"swapped", func(ms []*nats.Msg) []*nats.Msg { ms[at-1], ms[at] = ms[at], ms[at-1]; return ms }, audit.ReasonReordered, at, idNext},
		{"inserted", func(ms []*nats.Msg) []*nats.Msg {
			extra := nats.NewMsg(ms[at-1].Subject)
			extra.Data = bytes.Replace(ms[at-1].Data, []byte(idAt), []byte("00000000-0000-4000-8000-000000000000"), 1)
			return append(ms[:at-1:at-1], append([]*nats.Msg{extra}, ms[at-1:]...)...)
		}, audit.ReasonNotCovered, at, "00000000-0000-4000-8000-000000000000"},
		{"checkpoint reformatted", func(ms []*nats.Msg) []*nats.Msg {
			for _, m := range ms {
				if forged(m) {
					m.Data = bytes.Replace(m.Data, []byte(`"count":`), []byte(`"count": `), 1)
					break
				}
			}
			return ms
		}, audit.ReasonAltered, 0, ""},
		{"checkpoint edited", func(ms []*nats.Msg) []*nats.Msg {
			for _, m := range ms {
				if forged(m) {
					i := bytes.Index(m.Data, []byte(`"digest":"`)) + len(`"digest":"`)
					m.Data[i] ^= 1 // the digest no longer what was signed
					break
				}
			}
			return ms
		}, audit.ReasonBadSignature, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, orig.dir)
			rewrite(t, dir, bjs.HistoryStream, tc.edit)
			w := &world{t: t, dir: dir, last: map[events.Aggregate]events.Record{}}
			w.open()
			rep := w.verify()
			if tc.seq == 0 {
				if rep.OK || rep.FirstBad.Reason != tc.reason {
					t.Fatalf("report %+v", rep.FirstBad)
				}
				return
			}
			expectBad(t, rep, events.StreamHistory, tc.reason, tc.seq, tc.id)
		})
	}
	t.Run("original intact", func(t *testing.T) {
		orig.open()
		if rep := orig.verify(); !rep.OK {
			t.Fatalf("the original fails: %+v", rep.FirstBad)
		}
	})
}

// When the auth log's retention drops old messages (and with them old
// checkpoints), verification still passes: checkpoints say what they
// covered, and what is gone below the stream's first sequence is expired.
func TestVerifyAfterAuthLogAgesOut(t *testing.T) {
	w := newWorld(t, "")
	w.mixed(10)
	w.sealNow()
	w.mixed(10)
	w.sealNow()
	w.mixed(3)
	ctx := context.Background()
	js := w.store.JetStream()
	st, err := js.Stream(ctx, bjs.AuthLogStream)
	if err != nil {
		t.Fatal(err)
	}
	// Auth log: 20 messages, checkpoint 21, 20 messages, checkpoint 42, 6
	// unsealed. Keeping 26 drops the first checkpoint and the first message
	// the second one covers: retention by age drops the front the same way.
	cfg := st.CachedInfo().Config
	cfg.MaxMsgs = 26
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	rep := w.verify()
	a := rep.Streams[events.StreamAuthLog]
	if !rep.OK || a.FirstSeq != 23 || a.Expired != 1 || a.Checkpoints != 1 || a.Unsealed != 6 {
		t.Fatalf("report %+v, auth log %+v", rep.FirstBad, a)
	}
	// The sealer carries on from the surviving checkpoint.
	w.mixed(1)
	w.sealNow()
	if rep := w.verify(); !rep.OK {
		t.Fatalf("after sealing on: %+v", rep.FirstBad)
	}
	// The same front cut on the history stream (which keeps everything) is
	// a loss, not an expiry.
	h, _ := js.Stream(ctx, bjs.HistoryStream)
	hcfg := h.CachedInfo().Config
	hcfg.MaxMsgs = 10
	if _, err := js.UpdateStream(ctx, hcfg); err != nil {
		t.Fatal(err)
	}
	rep = w.verify()
	if rep.OK || rep.FirstBad.Stream != events.StreamHistory || rep.FirstBad.Reason != audit.ReasonMissing {
		t.Fatalf("history cut: %+v", rep.FirstBad)
	}
}
