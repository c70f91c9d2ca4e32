// Package client is the Go client of a Sutra cluster: it finds the leader
// among the nodes it is given, writes there, and follows the leader when
// it changes.
//
// # Writes
//
// Write is one call per write, as a unary call would be, but it does not
// make one: every write goes on one of a few WriteStreams to the leader
// (proto/storage.proto; Config.Streams, one TCP connection each), tagged
// with an id and matched with its result. Writes fill the first stream up
// to 128 in flight before they spread to the next. Concurrent callers' writes are
// therefore in flight together and share the leader's group commits,
// without the per-call cost of gRPC (new HTTP/2 stream, headers, trailers)
// on the client or on the node. A write returns once the leader has made
// it durable and applied it, and once its synchronous replicas have it
// when the cluster has any: the same promise as the unary calls.
//
// # Finding the leader
//
// Before its first write, and after losing the leader, the client asks
// every node in Config.Addrs for its replication status and picks the
// node that says it leads with the highest epoch, or else the leader a
// replica names. A replica refuses a write naming its leader; the client
// then retries the write there.
//
// # Retries
//
// A write is retried only when it provably was not applied: a replica
// refused it, or the request never left because its stream had ended.
// Retries back off from 50 ms to 2 s and stop after Config.LeaderWait
// (UNAVAILABLE) or when the caller's context ends. A write that was sent
// and whose result was lost (the leader died, the context ended) fails
// with ErrUnknownOutcome and is not retried: it may have been applied, and
// a blind retry could overwrite a later write. Any other error is the
// leader's answer for that write, as a gRPC status error: INVALID_ARGUMENT
// for a bad concept, UNAVAILABLE from a fenced leader or when the
// synchronous replicas did not confirm in time (after UNAVAILABLE the
// client looks for the leader again on the next write), PERMISSION_DENIED
// or UNAUTHENTICATED when the caller may not write (the node refuses the
// whole stream before it reads a request, so nothing was applied).
//
// # Security
//
// Config.DialOptions carries the credentials: grpc.WithTransportCredentials
// with the cluster CA and a client certificate, WithToken for a bearer
// token (docs/security.md). Without transport credentials the client
// speaks plaintext, for nodes started with --insecure.
package client
