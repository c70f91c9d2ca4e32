// Package v1alpha1 contains the SutraCluster API: the desired shape of a Sutra
// storage cluster (one leader, N replicas) and the status the operator reports
// from the cluster's own replication table.
//
// +kubebuilder:object:generate=true
// +groupName=storage.sutra.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the SutraCluster API.
	GroupVersion = schema.GroupVersion{Group: "storage.sutra.io", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the API types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &SutraCluster{}, &SutraClusterList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
