package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bindery/bindery/domain/login"
	"github.com/bindery/bindery/events"
	bjs "github.com/bindery/bindery/events/jetstream"
	"github.com/bindery/bindery/internal/server/natsrv"
)

// benchStream is the scratch stream of the raw publish measurement; its
// subjects are outside bindery.events.> and every subject the server
// uses, so no view, webhook or audit ever sees them.
const (
	benchStream  = "BINDERY_BENCH"
	benchSubject = "bindery.bench.raw."
)

// rawResult is the raw JetStream sync-publish rate on the server's NATS.
type rawResult struct {
	Publishers int          `json:"publishers"`
	Replicas   int          `json:"replicas"`
	Bytes      int          `json:"bytes"`
	Publishes  int          `json:"publishes"`
	Seconds    float64      `json:"seconds"`
	PerSecond  float64      `json:"per_second"`
	Latency    benchLatency `json:"latency"`
	// Synced is set when each ack waited for a group sync of the server's
	// disk (--raw-sync-dir), as the server's own acks do by default.
	Synced bool `json:"synced"`
}

// rawPublish measures how fast cfg.concurrency publishers, each waiting
// for its ack (a sync publish), store messages of a login event's size in
// a file-storage stream with the replicas of the server's auth log. It
// creates the scratch stream and deletes it afterwards, also when the
// measurement fails.
func rawPublish(ctx context.Context, c *cli, cfg benchConfig) (*rawResult, error) {
	nc, js, err := c.connectNATS(ctx, cfg.nats)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	replicas := 1
	if s, err := js.Stream(ctx, bjs.AuthLogStream); err == nil {
		replicas = max(s.CachedInfo().Config.Replicas, 1)
	} else {
		fmt.Fprintf(c.stderr, "bench login: no stream %s at %s (%v): raw publishes go to an R1 stream\n", bjs.AuthLogStream, cfg.nats, err)
	}
	// A stream left behind by an interrupted run is replaced.
	if err := js.DeleteStream(ctx, benchStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("deleting an old %s: %w", benchStream, err)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name: benchStream, Subjects: []string{benchSubject + ">"}, Storage: jetstream.FileStorage,
		Replicas: replicas, MaxAge: time.Hour, // a copy a crash leaves behind ages out
	})
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", benchStream, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := js.DeleteStream(dctx, benchStream); err != nil {
			fmt.Fprintf(c.stderr, "bench login: deleting %s: %v (delete it by hand: nats stream rm %s)\n", benchStream, err, benchStream)
		}
	}()

	// The payload is what a returning-user login stores: one encoded
	// login_succeeded envelope, as a new code's attempt decides it.
	attempt := login.NewAttempt(login.AttemptID("bench-0000", login.CodeWeChat, uuid.NewString()), 0)
	succeeded, err := attempt.Succeed("bench-0000", uuid.NewString(), login.MethodCode, "openid", uuid.NewString())
	if err != nil {
		return nil, err
	}
	_, payload, err := events.Encode(events.Aggregate{Type: events.AggregateLogin, ID: attempt.ID()},
		succeeded[0], events.Meta{Actor: "system", RequestID: uuid.NewString(), Time: time.Now()}, events.HashBytes(nil))
	if err != nil {
		return nil, err
	}

	// Under the group policy the server's acks reach Bindery only after a
	// sync of its disk; raw publishes over TCP get no such wait, so the
	// ceiling would be one no login can reach. The same wait, here.
	var durable *natsrv.DirSyncer
	if cfg.rawSyncDir != "" {
		if durable, err = natsrv.NewDirSyncer(cfg.rawSyncDir); err != nil {
			return nil, fmt.Errorf("--raw-sync-dir: %w", err)
		}
		defer durable.Close()
	}
	fmt.Fprintf(c.stderr, "raw JetStream sync publish: %d publishers for %s (each ack waits for a disk sync: %v)\n", cfg.concurrency, cfg.rawFor, durable != nil)
	var n atomic.Int64
	var failed atomic.Pointer[error] // the first publish error
	perWorker := make([][]time.Duration, cfg.concurrency)
	start := time.Now()
	deadline := start.Add(cfg.rawFor)
	var wg sync.WaitGroup
	for w := range cfg.concurrency {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			defer func() { perWorker[w] = lat }()
			for ctx.Err() == nil && time.Now().Before(deadline) && failed.Load() == nil {
				// Spread over many subjects, as appends spread over aggregates.
				subj := benchSubject + strconv.FormatInt(n.Add(1)%1024, 10)
				t0 := time.Now()
				if _, err := js.Publish(ctx, subj, payload); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				if durable != nil {
					if err := durable.Wait(); err != nil {
						failed.CompareAndSwap(nil, &err)
						return
					}
				}
				lat = append(lat, time.Since(t0))
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if err := failed.Load(); err != nil {
		return nil, *err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var all []time.Duration
	for _, l := range perWorker {
		all = append(all, l...)
	}
	return &rawResult{
		Publishers: cfg.concurrency, Replicas: replicas, Bytes: len(payload), Publishes: len(all),
		Seconds:   math.Round(took.Seconds()*100) / 100,
		PerSecond: math.Round(float64(len(all))/took.Seconds()*10) / 10,
		Latency:   benchSummary(all),
		Synced:    durable != nil,
	}, nil
}
