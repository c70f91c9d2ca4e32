package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

func TestPodMonitorUnavailable(t *testing.T) {
	gv := resources.PodMonitorGVK.GroupVersion()
	podmonitors := schema.GroupResource{Group: gv.Group, Resource: "podmonitors"}
	discovery := apiutil.ErrResourceDiscoveryFailed{gv: apierrors.NewNotFound(schema.GroupResource{}, gv.String())}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"no kind match", &meta.NoKindMatchError{GroupKind: resources.PodMonitorGVK.GroupKind(), SearchedVersions: []string{"v1"}}, true},
		{"no kind match, wrapped", fmt.Errorf("get PodMonitor demo: %w", &meta.NoKindMatchError{GroupKind: resources.PodMonitorGVK.GroupKind()}), true},
		{"no resource match", &meta.NoResourceMatchError{PartialResource: gv.WithResource("podmonitors")}, true},
		{"discovery of the group version found nothing", fmt.Errorf("get PodMonitor demo: %w", &discovery), true},
		{"resource not found (CRD removed after discovery)", fmt.Errorf("apply PodMonitor demo: %w", apierrors.NewNotFound(podmonitors, "demo")), true},
		{"forbidden", apierrors.NewForbidden(podmonitors, "demo", errors.New("no RBAC")), false},
		{"conflict", apierrors.NewConflict(podmonitors, "demo", errors.New("changed")), false},
		{"other", errors.New("connection refused"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := podMonitorUnavailable(tc.err); got != tc.want {
				t.Errorf("podMonitorUnavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// noPodMonitorKind fails every request on a PodMonitor the way the REST
// mapper does when the CRD is not installed, and counts them.
func noPodMonitorKind(calls *int) interceptor.Funcs {
	fail := func(obj runtime.Object) error {
		if obj.GetObjectKind().GroupVersionKind() == resources.PodMonitorGVK {
			*calls++
			return &meta.NoKindMatchError{GroupKind: resources.PodMonitorGVK.GroupKind(), SearchedVersions: []string{"v1"}}
		}
		return nil
	}
	return interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if err := fail(obj); err != nil {
				return err
			}
			return c.Get(ctx, key, obj, opts...)
		},
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			return errors.New("apply must not be reached: the Get before it fails")
		},
	}
}

func drain(rec *events.FakeRecorder) []string {
	var got []string
	for {
		select {
		case e := <-rec.Events:
			got = append(got, e)
		default:
			return got
		}
	}
}

// TestReconcileMonitoringKindAbsent: without the PodMonitor kind the phase
// succeeds, warns an enabled cluster once however often it runs, warns it
// again after it was disabled and re-enabled, and a disabled cluster does
// not ask again within podMonitorRecheck.
func TestReconcileMonitoringKindAbsent(t *testing.T) {
	*podMonitors = podMonitorState{warned: map[types.UID]bool{}}
	t.Cleanup(func() { *podMonitors = podMonitorState{warned: map[types.UID]bool{}} })

	calls := 0
	cl := fake.NewClientBuilder().WithInterceptorFuncs(noPodMonitorKind(&calls)).Build()
	rec := events.NewFakeRecorder(10)
	r := &SutraClusterReconciler{Client: cl, Recorder: rec}
	c := &sutrav1.SutraCluster{ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "prod", UID: "uid-absent"}}
	c.Spec.Monitoring.EnablePodMonitor = true
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	for i := range 3 {
		if err := r.reconcileMonitoring(context.Background(), newScope(c, now.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatalf("reconcile %d: %v, want nil", i, err)
		}
	}
	got := drain(rec)
	if len(got) != 1 || !strings.HasPrefix(got[0], "Warning "+sutrav1.EventPodMonitorUnavailable+" ") {
		t.Fatalf("events after three reconciles = %q, want one Warning %s", got, sutrav1.EventPodMonitorUnavailable)
	}
	if calls != 3 {
		t.Errorf("an enabled cluster asked %d times in 3 reconciles, want 3 (it keeps trying)", calls)
	}

	disabled := c.DeepCopy()
	disabled.Spec.Monitoring.EnablePodMonitor = false
	calls = 0
	if err := r.reconcileMonitoring(context.Background(), newScope(disabled, now.Add(time.Minute))); err != nil {
		t.Fatalf("disabled: %v", err)
	}
	if err := r.reconcileMonitoring(context.Background(), newScope(disabled, now.Add(time.Minute+podMonitorRecheck))); err != nil {
		t.Fatalf("disabled after the recheck interval: %v", err)
	}
	if calls != 1 {
		t.Errorf("a disabled cluster asked %d times, want 1 (only after the recheck interval)", calls)
	}
	if got := drain(rec); len(got) != 0 {
		t.Errorf("a disabled cluster got events %q, want none", got)
	}

	if err := r.reconcileMonitoring(context.Background(), newScope(c, now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if got := drain(rec); len(got) != 1 {
		t.Errorf("re-enabled: events %q, want one warning again", got)
	}
}

// TestPodMonitorAbsentAnswerOlderThanApply: an answer that the kind is
// missing from a request that started before an apply succeeded does not
// make disabled clusters skip the lookup.
func TestPodMonitorAbsentAnswerOlderThanApply(t *testing.T) {
	p := &podMonitorState{warned: map[types.UID]bool{}}
	now := time.Now()
	seen := p.seen()
	p.markApplied("uid-1")
	p.markAbsent(seen, now)
	if p.absentWithin(now, podMonitorRecheck) {
		t.Error("a stale absent answer was recorded")
	}
	p.markAbsent(p.seen(), now)
	if !p.absentWithin(now.Add(time.Second), podMonitorRecheck) {
		t.Error("a current absent answer was not recorded")
	}
	if p.absentWithin(now.Add(podMonitorRecheck), podMonitorRecheck) {
		t.Error("the absent answer outlived podMonitorRecheck")
	}
}
