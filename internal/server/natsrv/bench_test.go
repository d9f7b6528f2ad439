package natsrv

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkPublish is the raw acknowledged publish rate of the embedded
// server with each sync setting, from 1 and 32 concurrent writers.
func BenchmarkPublish(b *testing.B) {
	for _, sync := range policies {
		for _, writers := range []int{1, 32} {
			b.Run(fmt.Sprintf("sync=%s/writers=%d", sync.name, writers), func(b *testing.B) {
				e, err := Start(withDefaults(Options{DataDir: b.TempDir(), Sync: sync.policy, SyncInterval: sync.interval}))
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				js := addStream(b, e.Conn)
				data := make([]byte, 400)
				var n atomic.Int64
				b.SetParallelism((writers + 1) / 2)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					w := n.Add(1)
					for pb.Next() {
						if _, err := js.Publish(fmt.Sprintf("durable.%d", w), data); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}
