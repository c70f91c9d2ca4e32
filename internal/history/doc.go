// Package history keeps a log's identity: the epochs it was written in.
//
// Every leader term is an epoch. A node's history lists, oldest first, each
// epoch its log holds records of and the first sequence written in it, as
// PostgreSQL's timeline history files do. An epoch also carries a random
// 64-bit id, drawn when it begins, so that two nodes that each started an
// epoch with the same number (a data directory recreated and bootstrapped
// again, two promotions racing) never mistake one for the other.
//
// Two logs agree up to their fork point: the highest sequence covered by
// the same epochs, with the same ids and starts, in both. Because one
// leader writes each sequence of its epoch once, records at or below the
// fork point are the same on both nodes (Raft's log-matching property);
// past it they may differ. ForkPoint computes it from two histories and the
// two logs' last sequences.
//
// # File format
//
// The history is a text file, "history" in the data directory, rewritten
// whole (temporary file, fsync, rename, fsync of the directory) whenever an
// epoch begins or a history is adopted from a leader:
//
//	sutra-history 1
//	<epoch> <first sequence> <id, 16 hex digits>
//	...
//	crc32c <8 hex digits>
//
// Fields are separated by one space and lines end in "\n". Epochs strictly
// increase and first sequences never decrease down the file; the last line
// holds the CRC-32C (Castagnoli) of every byte before it. A file that fails
// any of these checks is refused as corrupt, never guessed at.
//
// A log written before histories existed has no file; it was written in
// epoch 1 by a single fixed leader, so Legacy describes it as epoch 1 from
// sequence 1 with id 0, the same on every node of such a cluster.
package history
