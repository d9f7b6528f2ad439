package wxsim

import (
	"errors"
	"strings"
)

// defaultCountry is the calling code of a number given without one: WeChat's home market.
const defaultCountry = "86"

// callingCodes are the country calling codes recognised in "+CCNNNN" numbers. Calling
// codes are prefix-free, so the first match wins. Numbers from elsewhere can be written
// "+CC NNNN" with a space.
var callingCodes = strings.Fields(`
	1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58
	60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98
	212 213 216 233 234 254 255 256 351 352 353 354 358 359 370 371 372 380 385 386
	420 421 852 853 855 856 880 886 960 961 962 965 966 968 971 972 973 974 975 976 977
`)

// parsePhone splits a simulated user's number into calling code and national number.
// Accepted: "13800138000" (China), "+8613800138000", "008613800138000", "+86 138 0013 8000".
func parsePhone(raw string) (country, national string, err error) {
	s := strings.TrimSpace(raw)
	if rest, ok := strings.CutPrefix(s, "00"); ok {
		s = "+" + rest
	}
	if rest, ok := strings.CutPrefix(s, "+"); ok {
		if cc, num, spaced := strings.Cut(rest, " "); spaced {
			country, national = cc, num
		} else {
			for _, cc := range callingCodes {
				if strings.HasPrefix(rest, cc) {
					country, national = cc, rest[len(cc):]
					break
				}
			}
			if country == "" {
				return "", "", errors.New(`phone: unknown country calling code; write it as "+CC NUMBER"`)
			}
		}
	} else {
		country, national = defaultCountry, s
	}
	national = strings.NewReplacer(" ", "", "-", "").Replace(national)
	if !digits(country) || len(country) > 3 {
		return "", "", errors.New("phone: the country calling code must be 1-3 digits")
	}
	if !digits(national) || len(national) < 4 || len(country)+len(national) > 15 {
		return "", "", errors.New("phone: the number must be 4-15 digits in all (E.164)")
	}
	return country, national, nil
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
