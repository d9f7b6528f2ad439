// Package cluster runs Bindery's production shape on one machine for
// benchmarks and fault tests: a three-node JetStream cluster of real
// processes, bindery replicas as processes on it, and a TCP proxy on every
// link (node to node, replica to node) that can be cut to partition a node
// or a replica away.
package cluster
