package controllers

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
	"github.com/sutra/sutra-operator/internal/statusclient"
)

// ReplicationStatusReader reads the replication table of the storage node at
// endpoint (host:port). Implementations bound the call in time; an error
// means the table could not be read (the node is down, unreachable, or not
// a Sutra node).
type ReplicationStatusReader interface {
	ReplicationStatus(ctx context.Context, endpoint string) (statusclient.Snapshot, error)
}

// SutraClusterReconciler makes a SutraCluster's children match its spec and
// reports the leader's replication table in its status.
type SutraClusterReconciler struct {
	client.Client
	// APIReader reads objects the operator does not cache (StorageClasses,
	// only when a claim must grow). Nil means Client.
	APIReader client.Reader
	// Recorder receives Created, Scaled and replication health events.
	Recorder events.EventRecorder
	// Replication reads replication tables; main wires *statusclient.Client.
	Replication ReplicationStatusReader
	// Admin calls the nodes' admin service (status, promote, follow,
	// fence); main wires *statusclient.Client. Nil disables failover and
	// rollouts (the operator then only creates objects and reports).
	Admin NodeAdmin
	// PodEndpoint overrides where the operator reaches an instance's node.
	// Nil means its peer address, resources.PodAddress. Tests point it at
	// local processes.
	PodEndpoint func(c *sutrav1.SutraCluster, instance string) string
	// Operator is the operator's own namespace and pod labels: every
	// cluster's NetworkPolicy admits these pods to the gRPC port. main
	// fills it from --operator-namespace and --operator-pod-labels.
	Operator resources.Operator
	// Now is the clock; nil means time.Now. Certificates are issued and
	// renewed by it.
	Now func() time.Time

	// clientCerts are the operator's own client certificates, per cluster.
	clientCerts clientCertCache
}

// phase is one step of a reconcile. It returns an error only for failures
// that should be retried with backoff.
type phase func(ctx context.Context, s *scope) error

// +kubebuilder:rbac:groups=storage.sutra.io,resources=sutraclusters,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=storage.sutra.io,resources=sutraclusters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=storage.sutra.io,resources=sutraclusters/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=services;configmaps,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one SutraCluster towards its spec. Child objects are
// applied in dependency order (certificates, Services and the
// NetworkPolicy, then the instances' claims, topology, certificates and
// pods), then every node is asked its role and position, the leadership and
// the rollout take at most one step, and the status is written once. A new
// targetLeader is written before anyone acts on it. It
// requeues after spec.statusPollInterval so status keeps flowing without
// events, sooner while a failover or rollout waits.
func (r *SutraClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cluster := &sutrav1.SutraCluster{}
	if err := r.Get(ctx, req.NamespacedName, cluster); err != nil {
		if apierrors.IsNotFound(err) {
			forgetMetrics(req.Namespace, req.Name)
			r.clientCerts.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !cluster.DeletionTimestamp.IsZero() {
		forgetMetrics(req.Namespace, req.Name)
		return ctrl.Result{}, nil // children are owned: the garbage collector removes them
	}
	if cluster.Annotations[sutrav1.AnnotationReconcile] == sutrav1.ReconcilePaused {
		return ctrl.Result{}, nil // removing the annotation is an event: it resumes then
	}

	if cluster.Spec.TLS.Mode == "" {
		return ctrl.Result{}, r.settleTLSMode(ctx, cluster) // a spec change: it comes back
	}

	s := newScope(cluster, r.now())
	for _, p := range []phase{
		r.reconcileCertificates,
		r.reconcileServices,
		r.reconcileNetworkPolicy,
		r.reconcileInstances,
		r.reconcileVolumes,
		r.reconcileDisruptionBudget,
		r.reconcileMonitoring,
	} {
		if s.childErr = p(ctx, s); s.childErr != nil {
			break
		}
	}
	ctx = s.withTLS(ctx) // the calls to the nodes: mutual TLS unless disabled
	if s.childErr == nil {
		r.observeNodes(ctx, s)
		r.observeReplication(ctx, s)
		for _, p := range []phase{r.reconcileLeadership, r.reconcileRollout} {
			if s.childErr = p(ctx, s); s.childErr != nil || s.leadership.record {
				break
			}
		}
	}

	status := computeStatus(s)
	observeMetrics(cluster, status)
	written, statusErr := r.publishStatus(ctx, cluster, status)
	if statusErr == nil && s.childErr == nil && s.leadership.record {
		// The new targetLeader is in status: act on it now, with what
		// this reconcile observed, and write the outcome.
		s.cluster, s.targetName, s.leadership.record = written, s.leadership.target, false
		s.childErr = r.reconcileLeadership(ctx, s)
		status = computeStatus(s)
		observeMetrics(cluster, status)
		_, statusErr = r.publishStatus(ctx, written, status)
	}
	if apierrors.IsConflict(statusErr) {
		// The cluster was read from a cache that had not yet seen the last
		// status write; read it again rather than tell its transitions twice.
		statusErr = nil
		if s.childErr == nil {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
	}

	if err := errors.Join(s.childErr, statusErr); err != nil {
		return ctrl.Result{}, err
	}
	if s.leadership.record {
		// The decision is in status: act on it at once.
		return ctrl.Result{RequeueAfter: time.Millisecond}, nil
	}
	next := resources.StatusPollInterval(cluster)
	if s.requeueAfter > 0 && s.requeueAfter < next {
		next = s.requeueAfter
	}
	return ctrl.Result{RequeueAfter: next}, nil
}

// publishStatus writes status and, when the write took effect, records the
// events of its transitions from cluster.Status and returns the cluster as
// written. The patch is conditional on
// the resourceVersion read: a reconcile that started from a status older
// than the stored one gets a Conflict and records nothing, so each
// transition is written, and told, exactly once.
func (r *SutraClusterReconciler) publishStatus(ctx context.Context, cluster *sutrav1.SutraCluster, status *sutrav1.SutraClusterStatus) (*sutrav1.SutraCluster, error) {
	if equality.Semantic.DeepEqual(&cluster.Status, status) {
		return cluster, nil
	}
	patched := cluster.DeepCopy()
	patched.Status = *status
	if err := r.Status().Patch(ctx, patched, client.MergeFromWithOptions(cluster, client.MergeFromWithOptimisticLock{})); err != nil {
		return cluster, err
	}
	r.recordTransitions(cluster, &cluster.Status, status)
	return patched, nil
}

func (r *SutraClusterReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// targetLeaderChanged passes status updates that change
// status.targetLeader: kubectl sutra promote asks for a switchover that way.
var targetLeaderChanged = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*sutrav1.SutraCluster)
	n, ok2 := e.ObjectNew.(*sutrav1.SutraCluster)
	return ok1 && ok2 && o.Status.TargetLeader != n.Status.TargetLeader
}}

// SetupWithManager watches SutraClusters (spec and annotation changes, and
// a new status.targetLeader; the operator's other status writes must not
// retrigger it) and the children it
// owns (their status changes, e.g. pods becoming ready, update the cluster's
// status at once), and the storage pods (a leader pod that starts
// terminating makes the cluster unavailable at once).
func (r *SutraClusterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&sutrav1.SutraCluster{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, targetLeaderChanged))).
		Owns(&corev1.Service{}).
		Owns(&corev1.PersistentVolumeClaim{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Secret{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(clusterOfPod)).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.clustersOnNode)).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Named("sutracluster").
		Complete(r)
}
