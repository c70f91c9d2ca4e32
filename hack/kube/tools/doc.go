// Package tools holds the small programs the offline development cluster
// needs (hack/kube/build.sh builds them):
//
//   - cmd/imagebuild writes a docker-save image tarball of static files on an
//     empty base, without Docker or a registry;
//   - cmd/pause is the pod sandbox (pause) image's program;
//   - cmd/hostpath-provisioner provisions hostPath PersistentVolumes for the
//     cluster's default StorageClass.
//
// It is a separate module so that the project's go.mod does not carry
// go-containerregistry and the tools do not enter `go build ./...`.
package tools
