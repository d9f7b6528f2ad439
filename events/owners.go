package events

import "context"

// ClaimKey names one unique value: its kind (ClaimPhone, …) and the value.
type ClaimKey struct {
	Kind  string
	Value string
}

// OwnerLister is implemented by stores that look up many claims in a few
// round trips (bulk sync checks hundreds of values per batch).
type OwnerLister interface {
	// Owners says who holds each value now; values nobody holds are absent.
	Owners(ctx context.Context, keys []ClaimKey) (map[ClaimKey]string, error)
}

// Owners looks up many claims: at once when the store is an OwnerLister,
// one Owner call each otherwise. Values nobody holds are absent.
func Owners(ctx context.Context, s Store, keys []ClaimKey) (map[ClaimKey]string, error) {
	if l, ok := s.(OwnerLister); ok {
		return l.Owners(ctx, keys)
	}
	out := make(map[ClaimKey]string, len(keys))
	for _, k := range keys {
		owner, err := s.Owner(ctx, k.Kind, k.Value)
		if err != nil {
			return nil, err
		}
		if owner != "" {
			out[k] = owner
		}
	}
	return out, nil
}
