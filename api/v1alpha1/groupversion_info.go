// Package v1alpha1 contains the SutraCluster API: the desired shape of a Sutra
// storage cluster (one leader, N replicas) and the status the operator reports
// from the cluster's own replication table.
//
// +kubebuilder:object:generate=true
// +groupName=storage.sutra.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the SutraCluster API.
	GroupVersion = schema.GroupVersion{Group: "storage.sutra.io", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the API types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
