// Package grpcapi adapts the storage node to gRPC: the replication service
// (sutra.replication.ReplicationService), the client API
// (sutra.storage.StorageService), one table mapping domain errors to status
// codes, one server constructor (health, reflection, limits, keepalive), and
// the client side used by replicas (stream dialer, heartbeat caller).
//
// Adapters only convert between protobuf messages and domain types; every
// decision lives in internal/engine and internal/replication.
package grpcapi
