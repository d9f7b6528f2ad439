package wechat

import (
	"context"
	"encoding/json"
	"net/http"
)

// QRCodeRequest describes a mini program code (wxacode.getUnlimited).
type QRCodeRequest struct {
	Scene      string // 1-32 characters from 0-9A-Za-z!#$&'()*+,/:;=?@-._~
	Page       string // no leading "/", no query; empty means the home page
	CheckPath  bool   // ask WeChat to check that Page exists in the published version
	EnvVersion string // "release" (default), "trial" or "develop"
	Width      int    // pixels, 280-1280; 0 means 430
}

// UnlimitedQRCode returns the JPEG image of a mini program code that opens Page with
// Scene. It has no one-time input, so -1 answers are retried.
func (c *Client) UnlimitedQRCode(ctx context.Context, cred Credentials, req QRCodeRequest) ([]byte, error) {
	body, err := json.Marshal(struct {
		Scene      string `json:"scene"`
		Page       string `json:"page,omitempty"`
		CheckPath  bool   `json:"check_path"`
		EnvVersion string `json:"env_version,omitempty"`
		Width      int    `json:"width,omitempty"`
	}{req.Scene, req.Page, req.CheckPath, req.EnvVersion, req.Width})
	if err != nil {
		return nil, err
	}
	return withToken(ctx, c, cred, func(token string) ([]byte, error) {
		r := request{method: http.MethodPost, path: "/wxa/getwxacodeunlimit", query: tokenQuery(token), body: body, retryBusy: true, image: true}
		var img []byte
		err := c.retry(ctx, r, func() error {
			var err error
			img, err = c.call(ctx, r, nil)
			return err
		})
		return img, err
	})
}
