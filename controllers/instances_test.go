package controllers

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

// storagePod is a current pod of testCluster(2, ...), scheduled on node-a,
// with the storage container in cs.
func storagePod(name, role string, ready bool, cs corev1.ContainerStatus) *corev1.Pod {
	readiness := corev1.ConditionFalse
	if ready {
		readiness = corev1.ConditionTrue
	}
	cs.Name = resources.ContainerName
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{resources.LabelRole: role},
			Annotations: map[string]string{resources.AnnotationSpecHash: resources.PodSpecHash(testCluster(2, ""))}},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{
			{Name: "sidecar", Image: "other"}, {Name: resources.ContainerName, Image: "sutra:1.2"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: readiness}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "sidecar", RestartCount: 99}, cs}},
	}
}

func TestInstanceStatuses(t *testing.T) {
	c := testCluster(2, sutrav1.PhaseRunning)
	running := corev1.ContainerStatus{Ready: true, RestartCount: 1, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	crashing := corev1.ContainerStatus{RestartCount: 4,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: "back-off 40s restarting failed container=storage"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", Message: "boom\n"}}}
	pulling := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull",
		Message: `failed to pull image "sutra:nope": not found`}}}
	backoff := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff",
		Message: `Back-off pulling image "sutra:nope"`}}}

	unschedulable := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "s-3", Labels: map[string]string{resources.LabelRole: resources.RoleReplica}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: resources.ContainerName, Image: "sutra:1.2"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled,
			Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/3 nodes are available: 3 Insufficient memory."}}},
	}
	terminating := storagePod("s-1", resources.RoleLeader, true, running)
	old := storagePod("s-2", resources.RoleReplica, true, running)
	old.Annotations[resources.AnnotationSpecHash] = "0123456789abcdef"
	unlabelled := storagePod("s-2", "", true, running)
	unlabelled.Annotations = nil
	terminating.DeletionTimestamp = &metav1.Time{Time: testNow}

	tests := []struct {
		name string
		pods []*corev1.Pod
		want []sutrav1.InstanceStatus
	}{
		{name: "no pods", want: nil},
		{
			name: "ready pods sorted by name",
			pods: []*corev1.Pod{storagePod("s-2", resources.RoleReplica, true, running), storagePod("s-1", resources.RoleLeader, true, running)},
			want: []sutrav1.InstanceStatus{
				{Name: "s-1", Role: "leader", UpToDate: true, Node: "node-a", Image: "sutra:1.2", Ready: true, Restarts: 1, Phase: corev1.PodRunning},
				{Name: "s-2", Role: "replica", UpToDate: true, Node: "node-a", Image: "sutra:1.2", Ready: true, Restarts: 1, Phase: corev1.PodRunning},
			},
		},
		{
			name: "crash loop tells the last termination",
			pods: []*corev1.Pod{storagePod("s-2", resources.RoleReplica, false, crashing)},
			want: []sutrav1.InstanceStatus{{Name: "s-2", Role: "replica", UpToDate: true, Node: "node-a", Image: "sutra:1.2", Restarts: 4, Phase: corev1.PodRunning,
				Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container=storage; last run: exit code 2 (Error): boom"}},
		},
		{
			name: "image pull errors",
			pods: []*corev1.Pod{storagePod("s-2", resources.RoleReplica, false, pulling), storagePod("s-3", resources.RoleReplica, false, backoff)},
			want: []sutrav1.InstanceStatus{
				{Name: "s-2", Role: "replica", UpToDate: true, Node: "node-a", Image: "sutra:1.2", Phase: corev1.PodRunning,
					Reason: "ErrImagePull", Message: `failed to pull image "sutra:nope": not found`},
				{Name: "s-3", Role: "replica", UpToDate: true, Node: "node-a", Image: "sutra:1.2", Phase: corev1.PodRunning,
					Reason: "ImagePullBackOff", Message: `Back-off pulling image "sutra:nope"`},
			},
		},
		{
			name: "unschedulable, role from the label",
			pods: []*corev1.Pod{unschedulable},
			want: []sutrav1.InstanceStatus{{Name: "s-3", Role: "replica", Image: "sutra:1.2", Phase: corev1.PodPending,
				Reason: sutrav1.InstanceUnschedulable, Message: "0/3 nodes are available: 3 Insufficient memory."}},
		},
		{
			name: "terminating even while ready",
			pods: []*corev1.Pod{terminating},
			want: []sutrav1.InstanceStatus{{Name: "s-1", Role: "leader", UpToDate: true, Node: "node-a", Image: "sutra:1.2", Ready: true, Restarts: 1, Phase: corev1.PodRunning,
				Reason: sutrav1.InstanceTerminating, Message: "pod is terminating (deleted at 2026-03-04T05:06:07Z)"}},
		},
		{
			name: "outdated pod",
			pods: []*corev1.Pod{old},
			want: []sutrav1.InstanceStatus{{Name: "s-2", Role: "replica", Node: "node-a", Image: "sutra:1.2", Ready: true, Restarts: 1, Phase: corev1.PodRunning}},
		},
		{
			name: "pod without role label or spec hash",
			pods: []*corev1.Pod{unlabelled},
			want: []sutrav1.InstanceStatus{{Name: "s-2", Node: "node-a", Image: "sutra:1.2", Ready: true, Restarts: 1, Phase: corev1.PodRunning}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods := map[string]*corev1.Pod{}
			for _, p := range tt.pods {
				pods[p.Name] = p
			}
			got := instanceStatuses(c, pods)
			if !equality.Semantic.DeepEqual(got, tt.want) {
				t.Errorf("instanceStatuses:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestRecordInstancesOnePerTransition(t *testing.T) {
	inst := func(reason string) *sutrav1.SutraClusterStatus {
		return &sutrav1.SutraClusterStatus{Instances: []sutrav1.InstanceStatus{{Name: "s-2", Reason: reason, Message: "m"}}}
	}
	tests := []struct {
		name           string
		before, after  *sutrav1.SutraClusterStatus
		wantEvents     int
		wantSubstrings []string
	}{
		{name: "enters crash loop", before: inst(""), after: inst("CrashLoopBackOff"), wantEvents: 1,
			wantSubstrings: []string{"Warning", sutrav1.EventInstanceFailing, "s-2", "CrashLoopBackOff", "m"}},
		{name: "stays in crash loop", before: inst("CrashLoopBackOff"), after: inst("CrashLoopBackOff")},
		{name: "image pull retries are one failure", before: inst("ErrImagePull"), after: inst("ImagePullBackOff")},
		{name: "new pod unschedulable", before: &sutrav1.SutraClusterStatus{}, after: inst(sutrav1.InstanceUnschedulable), wantEvents: 1},
		{name: "from image pull to crash loop", before: inst("ImagePullBackOff"), after: inst("CrashLoopBackOff"), wantEvents: 1},
		{name: "terminating is not a failure", before: inst(""), after: inst(sutrav1.InstanceTerminating)},
		{name: "recovers", before: inst("CrashLoopBackOff"), after: inst("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := eventsOf(tt.before, tt.after)
			if len(got) != tt.wantEvents {
				t.Fatalf("events = %q, want %d", got, tt.wantEvents)
			}
			for _, sub := range tt.wantSubstrings {
				if !strings.Contains(got[0], sub) {
					t.Errorf("event %q does not contain %q", got[0], sub)
				}
			}
		})
	}
}
