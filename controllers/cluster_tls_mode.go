package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

// initialTLSMode is the spec.tls.mode a cluster that leaves it unset gets:
// Enabled, unless a pod of the cluster already runs its storage server
// without TLS. Such a cluster was made by an operator version before TLS;
// its nodes could not replicate to TLS nodes during a rolling restart, so
// it stays as it runs until spec.tls.mode says otherwise.
func initialTLSMode(pods []corev1.Pod) sutrav1.TLSMode {
	for i := range pods {
		if !resources.RunsTLS(&pods[i]) {
			return sutrav1.TLSDisabled
		}
	}
	return sutrav1.TLSEnabled
}

// settleTLSMode writes spec.tls.mode, once, for a cluster that leaves it
// unset (see initialTLSMode). The write is a spec change: the cluster is
// reconciled again with the mode in place, so every phase after this
// sees one mode for the cluster's whole life.
func (r *SutraClusterReconciler) settleTLSMode(ctx context.Context, c *sutrav1.SutraCluster) error {
	pods := &corev1.PodList{}
	if err := r.List(ctx, pods, client.InNamespace(c.Namespace), client.MatchingLabels(resources.SelectorLabels(c))); err != nil {
		return err
	}
	patched := c.DeepCopy()
	patched.Spec.TLS.Mode = initialTLSMode(pods.Items)
	if err := r.Patch(ctx, patched, client.MergeFrom(c)); err != nil {
		return err
	}
	if patched.Spec.TLS.Mode == sutrav1.TLSDisabled {
		r.event(c, nil, corev1.EventTypeWarning, sutrav1.EventTLSKeptDisabled, "SetTLSMode",
			"spec.tls.mode set to Disabled: the cluster's pods already run without TLS; set it to Enabled to move to mutual TLS (a rolling restart during which replicas cannot stream)")
	}
	return nil
}
