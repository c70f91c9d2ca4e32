package auth

import "strings"

// Permission is what a method needs.
type Permission string

// Permissions, from the least to the most specific.
const (
	None      Permission = "none"      // anyone, without credentials
	Read      Permission = "read"      // reads and status
	Write     Permission = "write"     // writes
	AdminRole Permission = "admin"     // role changes
	Replicate Permission = "replicate" // streaming the log
	Heartbeat Permission = "heartbeat" // being heartbeated by the leader
	Denied    Permission = "denied"    // a method the policy does not know
)

// methods maps each full gRPC method name to what it needs.
var methods = map[string]Permission{
	"/sutra.storage.StorageService/GetConcept":       Read,
	"/sutra.storage.StorageService/GetNeighbors":     Read,
	"/sutra.storage.StorageService/GetStats":         Read,
	"/sutra.storage.StorageService/ReadStream":       Read,
	"/sutra.storage.StorageService/WriteConcept":     Write,
	"/sutra.storage.StorageService/DeleteConcept":    Write,
	"/sutra.storage.StorageService/WriteAssociation": Write,
	"/sutra.storage.StorageService/BatchWrite":       Write,
	"/sutra.storage.StorageService/WriteStream":      Write,

	"/sutra.replication.ReplicationService/GetReplicationStatus": Read,
	"/sutra.replication.ReplicationService/StreamWal":            Replicate,
	"/sutra.replication.ReplicationService/StreamWalEntries":     Replicate,
	"/sutra.replication.ReplicationService/Heartbeat":            Heartbeat,

	"/sutra.admin.AdminService/Status":  Read,
	"/sutra.admin.AdminService/Promote": AdminRole,
	"/sutra.admin.AdminService/Follow":  AdminRole,
	"/sutra.admin.AdminService/Fence":   AdminRole,

	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      Read,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": Read,
}

// held is what each kind of identity may do.
var held = map[Kind][]Permission{
	Reader: {Read},
	Writer: {Read, Write},
	Admin:  {Read, Write, AdminRole, Replicate},
	Node:   {Read, Replicate, Heartbeat},
}

// Needs is the permission method needs.
func Needs(method string) Permission {
	if strings.HasPrefix(method, "/grpc.health.v1.Health/") {
		return None
	}
	if p, ok := methods[method]; ok {
		return p
	}
	return Denied
}

// Holds says whether kind holds p.
func (k Kind) Holds(p Permission) bool {
	if p == None {
		return true
	}
	for _, h := range held[k] {
		if h == p {
			return true
		}
	}
	return false
}
