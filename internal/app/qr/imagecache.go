package qr

import (
	"sync"
	"time"
)

// imageCache keeps drawn codes until their session expires, so that page
// reloads do not spend WeChat's quota. It is bounded: past maxImages the
// expired entries go, then everything.
type imageCache struct {
	mu    sync.Mutex
	items map[string]cachedImage
}

type cachedImage struct {
	img     []byte
	expires time.Time
}

const maxImages = 2048

func (c *imageCache) get(id string, now time.Time) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.items[id]
	if !ok || !now.Before(it.expires) {
		return nil, false
	}
	return it.img, true
}

func (c *imageCache) put(id string, img []byte, expires, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		c.items = map[string]cachedImage{}
	}
	if len(c.items) >= maxImages {
		for k, it := range c.items {
			if !now.Before(it.expires) {
				delete(c.items, k)
			}
		}
		if len(c.items) >= maxImages {
			clear(c.items)
		}
	}
	c.items[id] = cachedImage{img: img, expires: expires}
}
