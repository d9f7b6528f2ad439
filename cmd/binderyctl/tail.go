package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/audit"
)

var tailToken = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// tailSubject builds the NATS subject a tail listens on.
func tailSubject(subject, typ, aggregate string) (string, error) {
	if subject != "" {
		if typ != "" || aggregate != "" {
			return "", fmt.Errorf("--subject cannot be combined with --type or --aggregate")
		}
		if !strings.HasPrefix(subject, events.SubjectPrefix) && subject != "bindery.events.>" {
			return "", fmt.Errorf("--subject must start with %s", events.SubjectPrefix)
		}
		return subject, nil
	}
	aggType, aggID := "*", "*"
	if aggregate != "" {
		t, id, hasID := strings.Cut(aggregate, "/")
		if !tailToken.MatchString(t) || (hasID && !tailToken.MatchString(id)) {
			return "", fmt.Errorf("--aggregate: use <type> or <type>/<id>")
		}
		aggType = t
		if hasID {
			aggID = id
		}
	}
	name := "*"
	if typ != "" {
		if m := regexp.MustCompile(`^bindery\.([a-z0-9_]+)\.v[0-9]+$`).FindStringSubmatch(typ); m != nil {
			typ = m[1]
		}
		if !tailToken.MatchString(typ) {
			return "", fmt.Errorf("--type: an event name like account_created")
		}
		name = typ
	}
	if aggType == "*" && aggID == "*" && name == "*" {
		return events.SubjectPrefix + ">", nil
	}
	return events.SubjectPrefix + aggType + "." + aggID + "." + name, nil
}

// tailed is one event to print.
type tailed struct {
	stream string
	seq    uint64
	msg    jetstream.Msg
	data   []byte // the event with its personal values opened; nil: as stored
}

func (t tailed) bytes() []byte {
	if t.data != nil {
		return t.data
	}
	return t.msg.Data()
}

func eventsTail(ctx context.Context, c *cli, args []string) int {
	fs := c.flagSet("events tail", "[--type NAME] [--aggregate TYPE[/ID]] [--subject SUBJECT] [--since DUR|TIME] [--json]",
		"Prints events as they are stored, one readable line each:\n"+
			"  <time> <stream>#<seq> <aggregate> <event> actor=<actor> <data>\n"+
			"reading both streams over NATS (ordered consumers, nothing is acked or kept). By default\n"+
			"it starts with the next event; --since starts earlier. Stops on Ctrl-C (or after --count).")
	var e endpoints
	c.natsFlag(fs, &e)
	typ := fs.String("type", "", "only this event (account_created or bindery.account_created.v1)")
	agg := fs.String("aggregate", "", "only this aggregate type, or type/id")
	subject := fs.String("subject", "", "a NATS subject filter under bindery.events. (wildcards allowed)")
	since := fs.String("since", "", "start this long ago (10m) or at this RFC 3339 time, instead of now")
	asJSON := fs.Bool("json", false, "print the stored CloudEvent JSON instead of a readable line")
	count := fs.Int("count", 0, "stop after this many events (0 = until interrupted)")
	if code, done := parse(fs, args); done {
		return code
	}
	subj, err := tailSubject(*subject, *typ, *agg)
	if err != nil {
		return c.fail("%v", err)
	}
	var start time.Time
	if *since != "" {
		if d, err := time.ParseDuration(*since); err == nil && d > 0 {
			start = time.Now().Add(-d)
		} else if start, err = time.Parse(time.RFC3339Nano, *since); err != nil {
			return c.fail("--since: a duration like 10m or an RFC 3339 time")
		}
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
	var sealer events.Sealer
	if keys != nil {
		defer keys.Close()
		sealer = keys
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make(chan tailed, 256)
	listening := 0
	for _, kind := range []string{events.StreamHistory, events.StreamAuthLog} {
		st, err := js.Stream(ctx, bjs.StreamName(kind))
		if err != nil {
			return c.fail("stream %s: %v", kind, err)
		}
		match := false
		for _, ss := range st.CachedInfo().Config.Subjects {
			if strings.HasPrefix(ss, events.SubjectPrefix) && audit.SubjectsCollide(subj, ss) {
				match = true
			}
		}
		if !match {
			continue
		}
		cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subj}, DeliverPolicy: jetstream.DeliverNewPolicy}
		if !start.IsZero() {
			cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
		}
		cons, err := js.OrderedConsumer(ctx, bjs.StreamName(kind), cfg)
		if err != nil {
			return c.fail("consumer on %s: %v", kind, err)
		}
		cc, err := cons.Consume(func(m jetstream.Msg) {
			md, err := m.Metadata()
			if err != nil {
				return
			}
			select {
			case out <- tailed{stream: kind, seq: md.Sequence.Stream, msg: m}:
			case <-ctx.Done():
			}
		})
		if err != nil {
			return c.fail("consume %s: %v", kind, err)
		}
		defer cc.Stop()
		listening++
	}
	if listening == 0 {
		return c.fail("no stream holds subjects matching %s", subj)
	}
	fmt.Fprintf(c.stderr, "tailing %s (Ctrl-C to stop)\n", subj)
	n := 0
	for {
		select {
		case <-ctx.Done():
			return exitOK
		case t := <-out:
			if sealer != nil {
				// The operator holds the master key: show the values opened.
				if opened, err := events.OpenEnvelope(sealer, t.msg.Data(), events.ErasedMarker); err == nil {
					t.data = opened
				}
			}
			if *asJSON {
				fmt.Fprintf(c.stdout, "%s\n", t.bytes())
			} else {
				fmt.Fprintln(c.stdout, tailLine(t))
			}
			if n++; *count > 0 && n >= *count {
				return exitOK
			}
		}
	}
}

// tailLine is the readable form of one event.
func tailLine(t tailed) string {
	var env events.Envelope
	if err := json.Unmarshal(t.bytes(), &env); err != nil {
		return fmt.Sprintf("%s#%d %s (undecodable: %v)", t.stream, t.seq, t.msg.Subject(), err)
	}
	agg, name := events.ParseSubject(t.msg.Subject())
	data := string(env.Data)
	if len(data) > 240 {
		data = data[:237] + "..."
	}
	return fmt.Sprintf("%s %s#%d %s %s actor=%s %s", env.Time.UTC().Format("2006-01-02T15:04:05.000Z"), t.stream, t.seq, agg, name, env.Actor, data)
}
