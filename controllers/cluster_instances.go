package controllers

import (
	"context"
	"fmt"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete;patch
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;create;delete;patch

// reconcileInstances makes the cluster's instances: spec.replicas + 1 pods,
// each with its claim data-INSTANCE. The instances are the claims labelled
// storage.sutra.io/instance; a claim is made before its pod. A missing pod
// is created again with the role status.targetLeader gives it (leader, or
// replica following the target). A scale down removes replicas, newest
// first, never the leader; their claims go when
// spec.pvcRetentionPolicy.whenScaled is Delete, and otherwise lose the
// instance label (they are kept, not reused).
//
// The topology ConfigMap is applied once the instance list is known and
// before new pods start, so the leader expects them.
func (r *SutraClusterReconciler) reconcileInstances(ctx context.Context, s *scope) error {
	c := s.cluster
	adopted, err := r.adoptLegacy(ctx, s)
	if err != nil {
		return err
	}
	claims := &corev1.PersistentVolumeClaimList{}
	if err := r.List(ctx, claims, client.InNamespace(c.Namespace), client.MatchingLabels(resources.SelectorLabels(c))); err != nil {
		return err
	}
	var have, taken []string
	for _, pvc := range claims.Items {
		if in := pvc.Labels[resources.LabelInstanceName]; in != "" {
			have = append(have, in)
		}
		if in, ok := resources.InstanceOfClaim(pvc.Name); ok {
			taken = append(taken, in)
		}
	}
	for _, in := range adopted { // labelled just now: the cache may lag
		if !slices.Contains(have, in) {
			have = append(have, in)
		}
	}
	s.leaderName, s.targetName = leaderNames(c, have)
	keep, add, remove := planInstances(c, have, taken, s.targetName, int(resources.Replicas(c))+1)
	s.instances = sortInstances(c, append(keep, add...))
	if err := r.applyAll(ctx, s, resources.TopologyConfigMap(c, s.instances)); err != nil {
		return err
	}
	for _, in := range add {
		if err := r.Create(ctx, resources.Claim(c, in)); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create claim of %s: %w", in, err)
		}
	}
	for _, in := range remove {
		if err := r.removeInstance(ctx, s, in); err != nil {
			return err
		}
	}
	if len(add) > 0 || len(remove) > 0 {
		r.event(c, c, corev1.EventTypeNormal, EventScaledReason, "Scale", "Scaled from %d to %d instances", len(have), len(s.instances))
	}
	if err := r.issueInstanceCertificates(ctx, s); err != nil {
		return err
	}
	return r.createPods(ctx, s)
}

// createPods creates the pod of every instance that has none, unless TLS
// is enabled without a usable CA: a pod without its certificate could
// not start.
func (r *SutraClusterReconciler) createPods(ctx context.Context, s *scope) error {
	c := s.cluster
	pods := &corev1.PodList{}
	if err := r.List(ctx, pods, client.InNamespace(c.Namespace), client.MatchingLabels(resources.SelectorLabels(c))); err != nil {
		return err
	}
	s.pods = map[string]*corev1.Pod{}
	for i := range pods.Items {
		s.pods[pods.Items[i].Name] = &pods.Items[i]
	}
	for _, in := range s.instances {
		if s.pods[in] != nil || s.podsBlocked() {
			continue
		}
		pod := resources.Pod(c, in, roleFor(in, s.targetName), followAddress(c, in, s.targetName))
		if err := r.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create pod %s: %w", in, err)
		}
		s.created = append(s.created, in)
	}
	return nil
}

func roleFor(instance, leader string) string {
	if instance == leader {
		return resources.RoleLeader
	}
	return resources.RoleReplica
}

// followAddress is the SUTRA_LEADER a replica instance starts with; empty
// for the leader.
func followAddress(c *sutrav1.SutraCluster, instance, leader string) string {
	if instance == leader {
		return ""
	}
	return resources.PodAddress(c, leader)
}

// removeInstance deletes a scaled-away instance's pod and certificate
// Secret, then deletes its claim or, when claims are retained, takes it out of the instance list.
func (r *SutraClusterReconciler) removeInstance(ctx context.Context, s *scope, in string) error {
	c := s.cluster
	pod := &corev1.Pod{}
	pod.Namespace, pod.Name = c.Namespace, in
	if err := r.Delete(ctx, pod); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod %s: %w", in, err)
	}
	secret := &corev1.Secret{}
	secret.Namespace, secret.Name = c.Namespace, resources.InstanceTLSSecretName(in)
	if err := r.Delete(ctx, secret); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete secret %s: %w", secret.Name, err)
	}
	pvc := &corev1.PersistentVolumeClaim{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: resources.ClaimName(in)}, pvc); err != nil {
		return client.IgnoreNotFound(err)
	}
	if c.Spec.PVCRetentionPolicy.WhenScaled == sutrav1.PVCDelete {
		return client.IgnoreNotFound(r.Delete(ctx, pvc))
	}
	patched := pvc.DeepCopy()
	delete(patched.Labels, resources.LabelInstanceName)
	return r.Patch(ctx, patched, client.MergeFrom(pvc))
}

// leaderNames returns status.currentLeader and status.targetLeader, or for
// a cluster that has none yet the instance to start as leader: the legacy
// leader when adopted, else the first instance.
func leaderNames(c *sutrav1.SutraCluster, have []string) (current, target string) {
	current, target = c.Status.CurrentLeader, c.Status.TargetLeader
	if current == "" {
		current = resources.InstanceName(c, 1)
		for _, in := range have {
			if in == resources.LegacyLeaderPodName(c) {
				current = in
			}
		}
		if len(have) > 0 && !slices.Contains(have, current) {
			current = sortInstances(c, have)[0]
		}
	}
	if target == "" {
		target = current
	}
	return current, target
}

// planInstances splits the instances a cluster has into those it keeps,
// those to add (new serials after the highest, counting the names of
// claims kept from earlier scale downs, taken, so a new instance never
// gets an old volume) and those to remove (the newest replicas first,
// never leader), to reach want. It is pure.
func planInstances(c *sutrav1.SutraCluster, have, taken []string, leader string, want int) (keep, add, remove []string) {
	sorted := sortInstances(c, have)
	next := 1
	for _, in := range append(append([]string(nil), sorted...), taken...) {
		if n, ok := resources.InstanceSerial(c, in); ok && n >= next {
			next = n + 1
		}
	}
	if !slices.Contains(sorted, leader) && len(sorted) < want {
		// The first instance of a new cluster is its leader.
		if n, ok := resources.InstanceSerial(c, leader); ok && n >= next {
			next = n + 1
		}
		add = append(add, leader)
	}
	for len(sorted)+len(add) < want {
		add = append(add, resources.InstanceName(c, next))
		next++
	}
	excess := len(sorted) + len(add) - want
	for i := len(sorted) - 1; i >= 0; i-- {
		if excess > 0 && sorted[i] != leader {
			remove = append(remove, sorted[i])
			excess--
			continue
		}
		keep = append(keep, sorted[i])
	}
	sort.Strings(remove)
	return sortInstances(c, keep), add, remove
}

// sortInstances orders instances: adopted legacy names first, by name, then
// NAME-SERIAL by serial.
func sortInstances(c *sutrav1.SutraCluster, in []string) []string {
	out := append([]string(nil), in...)
	sort.SliceStable(out, func(i, j int) bool {
		a, aok := resources.InstanceSerial(c, out[i])
		b, bok := resources.InstanceSerial(c, out[j])
		switch {
		case aok && bok:
			return a < b
		case aok != bok:
			return bok
		}
		return out[i] < out[j]
	})
	return out
}

// clusterOfPod maps a storage pod to its SutraCluster by the cluster label.
func clusterOfPod(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[resources.LabelCluster]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}
