package wechat

import (
	"errors"
	"fmt"
)

// ErrUnavailable reports that WeChat could not be asked or did not answer sensibly: a
// transport failure, a timeout, a non-200 status or a body that is not the expected JSON.
// Errors wrap it; test with errors.Is.
var ErrUnavailable = errors.New("wechat: unavailable")

// ErrWatermark reports a phone number whose watermark names another app than the one
// asking, which means the answer cannot be trusted for this app.
var ErrWatermark = errors.New("wechat: phone number watermark names another app")

// Error is an errcode answer from WeChat.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("wechat: errcode %d: %s", e.Code, e.Msg) }

// Temporary reports whether WeChat called itself busy (-1): the same request may work
// later. A request that carried a one-time code must still not be repeated with it.
func (e *Error) Temporary() bool { return e.Code == -1 }

func hasCode(err error, codes ...int) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if e.Code == c {
			return true
		}
	}
	return false
}

// IsInvalidCode reports errcode 40029: the code is unknown, expired or another app's.
func IsInvalidCode(err error) bool { return hasCode(err, 40029) }

// IsCodeUsed reports errcode 40163: the js_code was already exchanged (a replay).
func IsCodeUsed(err error) bool { return hasCode(err, 40163) }

// IsRateLimited reports errcode 45011: more than the per-minute quota.
func IsRateLimited(err error) bool { return hasCode(err, 45011) }

// IsBadCredentials reports errcode 40013 or 40125: the app's appid or secret is wrong,
// a configuration problem rather than a user's.
func IsBadCredentials(err error) bool { return hasCode(err, 40013, 40125) }

// isTokenRejected reports the errcodes after which a fresh access token may help.
func isTokenRejected(err error) bool { return hasCode(err, 40001, 40014, 42001) }
