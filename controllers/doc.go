// Package controllers holds the SutraCluster reconciler.
//
// One reconcile runs ordered phases over a scope (see scope.go): each phase
// makes one kind of child object match the spec or observes something into
// the scope; then the status is computed from the scope by a pure function
// (status.go) and written with one patch, skipped when nothing changed.
//
// The package never imports the storage engine. It talks to storage nodes
// only through ReplicationStatusReader, which internal/statusclient
// implements over gRPC and tests replace with fakes or point at local nodes.
package controllers
