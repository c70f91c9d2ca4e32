// Package node runs a storage node: it opens the engine, starts the leader's
// streamer or the replica's follower, serves gRPC (replication, client API,
// health, reflection) and Prometheus metrics, and shuts down in order on
// cancellation: health NOT_SERVING, drain calls, stop background work, close
// the log.
package node
