package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/bindery/bindery/events"
	"github.com/bindery/bindery/internal/audit"
	"github.com/bindery/bindery/projections"
)

// filterFlags are the audit API's filters, as flags of the same names.
func filterFlags(fs *flag.FlagSet) map[string]*string {
	return map[string]*string{
		"aggregate": fs.String("aggregate", "", "aggregate type, or type/id (account/7c9e…)"),
		"type":      fs.String("type", "", "event name (account_created) or CloudEvents type (bindery.account_created.v1)"),
		"account":   fs.String("account", "", "an account id: its own events and the events that name it (account_id)"),
		"since":     fs.String("since", "", "events at or after this RFC 3339 time"),
		"until":     fs.String("until", "", "events before this RFC 3339 time"),
		"after":     fs.String("after", "", "continue after this position (the next a previous export printed)"),
	}
}

func auditExport(ctx context.Context, c *cli, args []string) int {
	fs := c.flagSet("audit export", "[filters] [-o file]",
		"Writes the events that match the filters as NDJSON CloudEvents (the stored event, plus\n"+
			"\"stream\" and \"sequence\"), in the API's order (the two streams merged by event time),\n"+
			"paging through GET /v1/audit/events. Progress goes to stderr; at the end it prints the\n"+
			"position to continue from with --after.")
	var e endpoints
	c.httpFlags(fs, &e)
	filters := filterFlags(fs)
	out := fs.String("o", "", "write to this file instead of stdout")
	max := fs.Int("max", 0, "stop after this many events (0 = all)")
	page := fs.Int("page", audit.MaxLimit, "events per API request (1-10000)")
	if code, done := parse(fs, args); done {
		return code
	}
	q := url.Values{}
	for k, v := range filters {
		if *v != "" {
			q.Set(k, *v)
		}
	}
	if _, err := audit.ParseFilter(q, 0); err != nil {
		return c.fail("%v", strings.TrimPrefix(err.Error(), "validation_failed: "))
	}
	if *page < 1 || *page > audit.MaxLimit {
		return c.fail("--page: 1 to %d", audit.MaxLimit)
	}
	a, err := newAPI(e)
	if err != nil {
		return c.fail("%v", err)
	}
	var w io.Writer = c.stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return c.fail("%v", err)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	prog := newProgress(c.stderr, "exported")
	n, next, err := exportPages(ctx, a, q, *page, *max, bw, func(n int) { prog.update("events", uint64(n), 0) })
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	prog.finish()
	if err != nil {
		return c.fail("export stopped after %d events (continue with --after %s): %v", n, next, err)
	}
	fmt.Fprintf(c.stderr, "exported %d events; continue later with --after %s\n", n, next)
	return exitOK
}

// cursor is what an API page's trailers say.
type cursor struct {
	Next  string
	More  bool
	Error string
}

// pageCursor reads the trailers of a page whose body was read to the end.
func pageCursor(tr http.Header) (*cursor, error) {
	c := &cursor{Next: tr.Get("X-Bindery-Next"), More: tr.Get("X-Bindery-More") == "true", Error: tr.Get("X-Bindery-Error")}
	if c.Next == "" {
		return nil, fmt.Errorf("the page ended without its X-Bindery-Next trailer")
	}
	return c, nil
}

// exportPages pages through the API, copying event lines to w: every line
// is a CloudEvent; the cursor comes as trailers after the last one.
func exportPages(ctx context.Context, a *api, q url.Values, page, max int, w io.Writer, tick func(int)) (int, string, error) {
	n := 0
	next := q.Get("after")
	retries := 0
	for {
		lim := page
		if max > 0 && max-n < lim {
			lim = max - n
		}
		if lim <= 0 {
			return n, next, nil
		}
		q.Set("limit", fmt.Sprint(lim))
		if next != "" {
			q.Set("after", next)
		}
		resp, err := a.get(ctx, "/v1/audit/events", q)
		if err != nil {
			return n, next, err
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			if _, err := w.Write(append(sc.Bytes(), '\n')); err != nil {
				resp.Body.Close()
				return n, next, err
			}
			if n++; n%1000 == 0 {
				tick(n)
			}
		}
		err = sc.Err()
		resp.Body.Close()
		if err != nil {
			return n, next, err
		}
		cur, err := pageCursor(resp.Trailer)
		if err != nil {
			return n, next, err
		}
		next = cur.Next
		tick(n)
		if cur.Error != "" {
			if retries++; retries > 3 {
				return n, next, fmt.Errorf("server: %s", cur.Error)
			}
			continue
		}
		retries = 0
		if !cur.More {
			return n, next, nil
		}
	}
}

// keyFlags collects --key values.
type keyFlags []string

func (k *keyFlags) String() string     { return strings.Join(*k, ",") }
func (k *keyFlags) Set(v string) error { *k = append(*k, v); return nil }

func auditVerify(ctx context.Context, c *cli, args []string) int {
	fs := c.flagSet("audit verify", "[--nats URL] [--key PUBLIC_KEY]...",
		"Reads both streams over NATS and checks that every event links to the previous event of\n"+
			"its aggregate (prevhash) and that every signed checkpoint verifies, chains to the one before\n"+
			"it, and covers exactly the messages there now. Prints the report as JSON on stdout (ok,\n"+
			"events, head, checkpoints, first_bad: {stream, seq, id, reason, detail}) and a progress bar\n"+
			"on stderr. Exit code 1 when verification fails.\n\n"+
			"The public keys are read from the KV bucket "+audit.KeyBucket+" unless pinned with --key\n"+
			"(GET /v1/audit/key publishes them): pin them when the NATS account itself is not trusted.")
	var e endpoints
	c.natsFlag(fs, &e)
	var keys keyFlags
	fs.Var(&keys, "key", "trust only this Ed25519 public key (base64url); repeat for several")
	if code, done := parse(fs, args); done {
		return code
	}
	nc, js, err := c.connectNATS(ctx, *e.nats)
	if err != nil {
		return c.fail("%v", err)
	}
	defer nc.Close()
	var set audit.KeySet
	if len(keys) > 0 {
		var pubs []ed25519.PublicKey
		for _, k := range keys {
			p, err := audit.ParsePublicKey(k)
			if err != nil {
				return c.fail("--key %q: %v", k, err)
			}
			pubs = append(pubs, p)
		}
		set = audit.KeySetOf(pubs...)
	} else if set, err = audit.LoadPublicKeys(ctx, js); err != nil {
		return c.fail("%v (or pin keys with --key)", err)
	}
	prog := newProgress(c.stderr, "verified")
	v := &audit.Verifier{JS: js, Keys: set, Progress: prog.update}
	rep, err := v.Verify(ctx)
	prog.finish()
	if err != nil {
		return c.fail("%v", err)
	}
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
	if !rep.OK {
		f := rep.FirstBad
		fmt.Fprintf(c.stderr, "FAILED: %s stream, sequence %d", f.Stream, f.Seq)
		if f.ID != "" {
			fmt.Fprintf(c.stderr, ", event %s", f.ID)
		}
		fmt.Fprintf(c.stderr, ": %s (%s)\n", f.Reason, f.Detail)
		return exitFailed
	}
	fmt.Fprintf(c.stderr, "ok: %d events, %d checkpoints, head %s (%d not sealed yet, %d expired)\n", rep.Events, rep.Checkpoints, rep.Head, rep.Unsealed, rep.Expired)
	return exitOK
}

func auditReplay(ctx context.Context, c *cli, args []string) int {
	return replayWith(ctx, c, args, func() []projections.Projection { return projections.NewSet().All() })
}

// liveAPI reads the server's views over HTTP.
type liveAPI struct{ a *api }

func (l liveAPI) Names(ctx context.Context) ([]string, error) {
	var body struct{ Views []string }
	err := l.a.getJSON(ctx, "/v1/audit/views", nil, &body)
	return body.Views, err
}

func (l liveAPI) Snapshot(ctx context.Context, name string, min events.Position) (json.RawMessage, events.Position, error) {
	var body struct {
		Position string
		Snapshot json.RawMessage
	}
	q := url.Values{}
	if !min.IsZero() {
		q.Set("min_position", min.String())
	}
	if err := l.a.getJSON(ctx, "/v1/audit/views/"+url.PathEscape(name), q, &body); err != nil {
		return nil, events.Position{}, err
	}
	pos, err := events.ParsePosition(body.Position)
	return body.Snapshot, pos, err
}

// replayWith is audit replay over the views newViews makes (tests inject a
// faulty one).
func replayWith(ctx context.Context, c *cli, args []string, newViews func() []projections.Projection) int {
	fs := c.flagSet("audit replay", "[--url URL] [--token TOKEN] [--nats URL] [--json]",
		"Rebuilds every view the server runs (projections.NewSet) from the streams, in fresh\n"+
			"memory, and compares each with the live server's view at the same position (GET\n"+
			"/v1/audit/views/{name}): the server says which position its snapshot reflects and the\n"+
			"rebuild advances to exactly that one. Prints each view's differences (path: live X,\n"+
			"replay Y). Exit code 1 when a view differs.")
	var e endpoints
	c.httpFlags(fs, &e)
	c.natsFlag(fs, &e)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if code, done := parse(fs, args); done {
		return code
	}
	a, err := newAPI(e)
	if err != nil {
		return c.fail("%v", err)
	}
	nc, js, err := c.connectNATS(ctx, *e.nats)
	if err != nil {
		return c.fail("%v", err)
	}
	defer nc.Close()
	keys, err := c.openKeyring(ctx, js)
	if err != nil {
		return c.fail("master key: %v", err)
	}
	if keys == nil {
		return c.fail("audit replay opens personal values to rebuild the views: set BINDERY_MASTER_KEY (or BINDERY_DATA_DIR)")
	}
	defer keys.Close()
	reg := events.Catalogue()
	reg.UseSealer(keys)
	prog := newProgress(c.stderr, "replayed (stream positions)")
	rb := &audit.Rebuild{JS: js, Registry: reg, Views: newViews(),
		Progress: func(stream string, seq uint64) { prog.update(stream, seq, 0) }}
	start := time.Now()
	rep, err := audit.Replay(ctx, rb, liveAPI{a})
	prog.finish()
	if err != nil {
		return c.fail("replay: %v", err)
	}
	rep.Elapsed = time.Since(start).Round(time.Millisecond).String()
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		fmt.Fprintf(c.stdout, "replayed %d events in %s\n", rep.Events, rep.Elapsed)
		for _, v := range rep.Views {
			switch {
			case v.Note != "":
				fmt.Fprintf(c.stdout, "  %-12s %s\n", v.Name, v.Note)
			case v.Equal:
				fmt.Fprintf(c.stdout, "  %-12s equal at %s\n", v.Name, v.Position)
			default:
				fmt.Fprintf(c.stdout, "  %-12s DIFFERS at %s:\n", v.Name, v.Position)
				for _, d := range v.Differences {
					fmt.Fprintf(c.stdout, "      %s\n", d)
				}
			}
		}
	}
	if !rep.OK {
		fmt.Fprintln(c.stderr, "FAILED: the rebuilt views differ from the live ones")
		return exitFailed
	}
	return exitOK
}
