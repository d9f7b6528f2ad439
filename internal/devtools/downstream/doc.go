// Package downstream holds the contract tests of Bindery's public event
// surface: what a downstream system sees when it subscribes to
// bindery.events.> with a plain nats.go client (docs/downstream.md).
package downstream
