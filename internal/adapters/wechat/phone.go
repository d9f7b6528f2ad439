package wechat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Phone is a user's phone number as WeChat verified it.
type Phone struct {
	E164            string // "+8613800138000"
	PurePhoneNumber string // without the country calling code
	CountryCode     string // "86"
}

// PhoneNumber exchanges a phone-number button code for the number. The code is sent
// once; only an access-token rejection, which WeChat gives before looking at the code,
// makes it go again with a fresh token.
func (c *Client) PhoneNumber(ctx context.Context, cred Credentials, code string) (Phone, error) {
	if code == "" {
		return Phone{}, &Error{Code: 40029, Msg: "missing code"}
	}
	body, err := json.Marshal(map[string]string{"code": code})
	if err != nil {
		return Phone{}, err
	}
	return withToken(ctx, c, cred, func(token string) (Phone, error) {
		var out struct {
			PhoneInfo struct {
				PhoneNumber     string     `json:"phoneNumber"`
				PurePhoneNumber string     `json:"purePhoneNumber"`
				CountryCode     flexString `json:"countryCode"`
				Watermark       struct {
					AppID string `json:"appid"`
				} `json:"watermark"`
			} `json:"phone_info"`
		}
		req := request{method: http.MethodPost, path: "/wxa/business/getuserphonenumber", query: tokenQuery(token), body: body}
		if err := c.callJSON(ctx, req, &out); err != nil {
			return Phone{}, err
		}
		info := out.PhoneInfo
		if info.Watermark.AppID != cred.AppID {
			return Phone{}, ErrWatermark
		}
		cc, pure := string(info.CountryCode), info.PurePhoneNumber
		if !digits(cc) || !digits(pure) {
			return Phone{}, fmt.Errorf("%w: getuserphonenumber answered without a usable number", ErrUnavailable)
		}
		return Phone{E164: "+" + cc + pure, PurePhoneNumber: pure, CountryCode: cc}, nil
	})
}

// flexString accepts a JSON string or number: WeChat's docs show countryCode both ways.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
