// Package auth says who is calling a storage node and what they may do.
//
// # Identities
//
// A caller is identified by a client certificate signed by the node's
// client CA (SUTRA_TLS_CLIENT_CA, default SUTRA_TLS_CA) or by a bearer
// token from the node's token file (SUTRA_AUTH_TOKENS_FILE). The identity
// of a certificate is its URI subject alternative name:
//
//	urn:sutra:node:<node-id>   a storage node of the cluster
//	urn:sutra:admin:<name>     the operator or an administrator
//	urn:sutra:writer:<name>    a client that reads and writes
//	urn:sutra:reader:<name>    a client that only reads
//
// A certificate with no such URI, or with more than one, identifies no one
// and is refused. Nodes authenticate only by certificate; a token names a
// reader, writer or admin.
//
// # Permissions
//
// Policy maps every gRPC method to the permission it needs (Permission),
// and each kind of identity to what it holds:
//
//	method                                   needs       held by
//	StorageService reads, GetStats           read        reader, writer, admin, node
//	ReplicationService.GetReplicationStatus  read        reader, writer, admin, node
//	AdminService.Status, reflection          read        reader, writer, admin, node
//	StorageService writes                    write       writer, admin
//	AdminService Promote, Follow, Fence      admin       admin
//	ReplicationService StreamWal, entries    replicate   node, admin (tail only)
//	ReplicationService.Heartbeat             heartbeat   node
//	grpc.health.v1.Health                    none        anyone, unauthenticated
//
// A method the table does not name is refused. The replication handlers
// check more than the table can: a node streams the log only as itself
// (the stream's replica id is its node id), an admin may only tail it, and
// a heartbeat's leader id is the sending node's own.
//
// # Token file
//
// One token per line, "<kind> <name> <token>", kind reader, writer or
// admin; blank lines and lines starting with # are ignored. Tokens are
// compared by their SHA-256, so a lookup does not reveal a prefix by its
// timing; a parse error names the line, never its token.
//
// # Reloading
//
// Files (Source, Tokens) are read again when a handshake or call comes at
// least a second after the last check and their contents changed: a
// rotated certificate, CA or token file takes effect without a restart. A
// change that does not parse (a certificate without its new key, midway
// through a non-atomic copy) is logged and the previous material kept.
package auth
