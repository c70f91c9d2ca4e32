package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=podmonitors,verbs=get;list;watch;create;update;patch;delete

// podMonitorRecheck is how long a reconcile of a cluster without
// spec.monitoring.enablePodMonitor trusts the last answer that the
// PodMonitor kind is not served, instead of asking discovery again.
const podMonitorRecheck = 5 * time.Minute

// podMonitorState is what the operator remembers about PodMonitors between
// reconciles: when the kind was last found missing, and the clusters
// already told so by an event (by UID), so each is warned once until a
// PodMonitor is applied. applied counts successful applies: an answer that
// the kind is missing counts only if no apply succeeded since the request
// that got it started (it may predate the CRD's installation).
type podMonitorState struct {
	mu           sync.Mutex
	applied      uint64
	kindAbsentAt time.Time
	warned       map[types.UID]bool
}

var podMonitors = &podMonitorState{warned: map[types.UID]bool{}}

// reconcileMonitoring applies the cluster's PodMonitor when
// spec.monitoring.enablePodMonitor is true and deletes the one the operator
// made otherwise. PodMonitors are not watched (a watch on a kind the API
// server does not serve stops the manager): they are reconciled on every
// pass, and a manual change is undone on the next one.
//
// When the API server does not serve monitoring.coreos.com/v1 PodMonitor
// (the Prometheus Operator is not installed) the phase succeeds: an enabled
// cluster gets one PodMonitorUnavailable Warning and the later phases run.
func (r *SutraClusterReconciler) reconcileMonitoring(ctx context.Context, s *scope) error {
	c := s.cluster
	if !c.Spec.Monitoring.EnablePodMonitor {
		podMonitors.forget(c.UID)
		seen := podMonitors.seen()
		err := r.deletePodMonitor(ctx, s.now, c)
		if podMonitorUnavailable(err) {
			podMonitors.markAbsent(seen, s.now)
			return nil
		}
		return err
	}

	seen := podMonitors.seen()
	err := r.applyAll(ctx, s, resources.PodMonitor(c))
	switch {
	case err == nil:
		podMonitors.markApplied(c.UID)
		return nil
	case podMonitorUnavailable(err):
		podMonitors.markAbsent(seen, s.now)
		if podMonitors.warnOnce(c.UID) {
			r.event(c, nil, corev1.EventTypeWarning, sutrav1.EventPodMonitorUnavailable, "ApplyPodMonitor",
				"spec.monitoring.enablePodMonitor is true but the API server does not serve %s %s (is the Prometheus Operator installed?); no PodMonitor was created: %v",
				resources.PodMonitorGVK.GroupVersion(), resources.PodMonitorGVK.Kind, err)
		}
		return nil
	default:
		return err
	}
}

// deletePodMonitor deletes the cluster's PodMonitor when c controls it. A
// PodMonitor of the same name that c does not control is left alone.
// Discovery is not asked again within podMonitorRecheck of learning that
// the kind is missing: no PodMonitor can exist then, so there is nothing
// to delete.
func (r *SutraClusterReconciler) deletePodMonitor(ctx context.Context, now time.Time, c *sutrav1.SutraCluster) error {
	if podMonitors.absentWithin(now, podMonitorRecheck) {
		return nil
	}
	pm := &unstructured.Unstructured{}
	pm.SetGroupVersionKind(resources.PodMonitorGVK)
	key := client.ObjectKey{Namespace: c.Namespace, Name: resources.PodMonitorName(c)}
	if err := r.Get(ctx, key, pm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("get PodMonitor %s: %w", key.Name, err)
	}
	if !metav1.IsControlledBy(pm, c) {
		return nil
	}
	uid := pm.GetUID()
	err := r.Delete(ctx, pm, client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete PodMonitor %s: %w", key.Name, err)
	}
	return nil
}

// podMonitorUnavailable reports whether err says the API server does not
// serve the PodMonitor kind: the REST mapper found no kind match (the CRD
// is not installed), or the server answered NotFound to a request on the
// resource itself (the CRD was removed after discovery). It is only called
// with errors of an apply, which creates a missing object, or of the Get
// in deletePodMonitor, which returns an absent object as nil: a NotFound
// that reaches it is about the resource, not an object.
func podMonitorUnavailable(err error) bool {
	return err != nil && (meta.IsNoMatchError(err) || apierrors.IsNotFound(err))
}

// seen is the number of successful applies so far; pass it to markAbsent.
func (p *podMonitorState) seen() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.applied
}

// markAbsent records that a request started when seen applies had
// succeeded found the kind missing, unless an apply succeeded since.
func (p *podMonitorState) markAbsent(seen uint64, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.applied == seen {
		p.kindAbsentAt = now
	}
}

// markApplied records that a PodMonitor of the cluster was applied: the
// kind is served, and the cluster is warned again if it stops being.
func (p *podMonitorState) markApplied(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applied++
	p.kindAbsentAt = time.Time{}
	delete(p.warned, uid)
}

func (p *podMonitorState) absentWithin(now time.Time, d time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.kindAbsentAt.IsZero() && now.Sub(p.kindAbsentAt) < d
}

// warnOnce reports whether the cluster has not been warned yet, and marks
// it warned.
func (p *podMonitorState) warnOnce(uid types.UID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.warned[uid] {
		return false
	}
	p.warned[uid] = true
	return true
}

func (p *podMonitorState) forget(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.warned, uid)
}
