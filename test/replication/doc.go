// Package replication holds end-to-end tests of WAL streaming with real
// storage-server processes on 127.0.0.1: catch-up, snapshots, kill -9 of
// replicas and of the leader, partitions and throttling through a
// fault-injecting TCP proxy, and bad input. They need only Go.
package replication
