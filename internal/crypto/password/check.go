package password

// CheckHash vets a hash made elsewhere (an account import) without a
// password: it returns the parameters of an argon2id PHC string that Verify
// can use, or an error wrapping ErrMalformedHash.
func CheckHash(encoded string) (Params, error) {
	p, _, _, err := decode(encoded)
	return p, err
}
