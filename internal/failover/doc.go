// Package failover decides, from what the operator observed of a cluster's
// instances in one reconcile, whether to change its leader and to which
// instance. Every function is pure: the same observation gives the same
// decision, so the controller acts on it and tests check it by table.
//
// # When the leader has failed
//
// The leader is unavailable when its pod is terminating, or when the
// operator cannot reach its admin service and either its pod is not ready
// (or does not exist) or no replica that answers streams from it (a
// partition around the leader, which its own kubelet does not see). A
// leader that answers, or is silent only to the operator, is not failed
// over: the operator's own network trouble is not the leader's. Failover
// starts once the leader has been unavailable for spec.failoverDelay.
//
// # Which replica
//
// Candidates are the other instances whose admin service answers as a
// replica that has not diverged and whose pod exists and is not
// terminating. The most advanced wins, comparing (epoch, durable sequence)
// as Raft compares (last term, last index): a replica with records of a
// newer epoch holds the newer history even when it is shorter. Ties go to
// a ready pod, then an up-to-date one, then the first name.
//
// With synchronous replication in required mode every acknowledged write
// is durable on at least k replicas (spec.replication.synchronous.replicas),
// so among any n-k+1 of the n replicas one holds it, and the most advanced
// of them holds every acknowledged write. Failover is blocked while fewer
// than n-k+1 replicas answer: the one that is silent may be the only holder
// of an acknowledged write. In preferred mode and without synchronous
// replication the most advanced replica that answers is promoted and the
// writes it lacks are lost; the decision says so.
package failover
