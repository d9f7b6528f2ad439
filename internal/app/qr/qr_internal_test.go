package qr

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestCleanUserAgent(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes
	for _, tt := range []struct{ in, want string }{
		{"Mozilla/5.0 (X11)", "Mozilla/5.0 (X11)"},
		{"evil\r\nX-Injected: 1\x00\x7f", "evilX-Injected: 1"},
		{"bad \xff\xfe utf8", "bad  utf8"},
		{long, strings.Repeat("é", 256)},
	} {
		got := cleanUserAgent(tt.in)
		if got != tt.want || !utf8.ValidString(got) || len(got) > maxUserAgent {
			t.Errorf("cleanUserAgent(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSecondsLeft(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]int{-time.Second: 0, 0: 0, time.Millisecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, 300 * time.Second: 300} {
		if got := secondsLeft(now.Add(d), now); got != want {
			t.Errorf("secondsLeft(+%v) = %d, want %d", d, got, want)
		}
	}
}

// The image cache forgets expired codes and never grows past maxImages.
func TestImageCacheBounded(t *testing.T) {
	var c imageCache
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	c.put("a", []byte("A"), now.Add(time.Minute), now)
	if img, ok := c.get("a", now); !ok || string(img) != "A" {
		t.Fatal("cached image missing")
	}
	if _, ok := c.get("a", now.Add(time.Minute)); ok {
		t.Fatal("expired image served")
	}
	for i := range 3 * maxImages {
		c.put(strings.Repeat("x", i%50)+string(rune('a'+i%26))+time.Duration(i).String(), nil, now.Add(time.Minute), now)
		if len(c.items) > maxImages {
			t.Fatalf("cache holds %d images", len(c.items))
		}
	}
}
