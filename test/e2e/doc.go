// Package e2e is the end-to-end suite: it installs the operator chart into a
// real cluster, runs a SutraCluster through writes, scaling, pod deletions
// and a network partition, and checks what the operator reports.
//
// The tests carry the build tag e2e, so `go test ./...` does not run them.
// Run them against the cluster KUBECONFIG names, with images already loaded
// (make cluster-up images test-e2e; see docs/e2e.md):
//
//	KUBECONFIG=~/.cache/sutra/cluster/kubeconfig go test -tags e2e -v -timeout 40m ./test/e2e/
package e2e
