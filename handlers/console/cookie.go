package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
)

// seal encrypts and authenticates v for the cookie name (AES-256-GCM under
// the console's key, the cookie's name as associated data): the browser
// holds it but can neither read nor change it, and every replica opens it.
// The session cookie holds the administrator's access token, so it is
// sealed, not only signed.
func (c *Console) seal(name string, v any) string {
	raw, _ := json.Marshal(v)
	aead, err := c.aead()
	if err != nil {
		return ""
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, raw, []byte(name)))
}

// open reverses seal; false for anything tampered with, of another
// cookie, or under another key.
func (c *Console) open(name, value string, v any) bool {
	aead, err := c.aead()
	if err != nil || len(value) > 8<<10 {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < aead.NonceSize() {
		return false
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(name))
	return err == nil && json.Unmarshal(plain, v) == nil
}

func (c *Console) aead() (cipher.AEAD, error) {
	block, err := aes.NewCipher(c.Key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (c *Console) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/console", MaxAge: maxAge,
		HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteStrictMode,
	})
}
