package kubectlsutra

import (
	"context"
	"strings"
	"testing"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

func TestValidatePromote(t *testing.T) {
	switching := degradedCluster()
	switching.Status.Phase = sutrav1.PhaseFailingOver
	switching.Status.TargetLeader = "demo-replica-1"
	noInstances := degradedCluster()
	noInstances.Status.Instances = nil
	notReadyNoReason := degradedCluster()
	notReadyNoReason.Status.Instances[1].Ready = false

	tests := []struct {
		name    string
		cluster *sutrav1.SutraCluster
		pod     string
		wantErr string // "" for a valid switchover
	}{
		{name: "ready replica", cluster: degradedCluster(), pod: "demo-replica-0"},
		{name: "not an instance", cluster: degradedCluster(), pod: "demo-replica-9",
			wantErr: "demo-replica-9 is not an instance of demo (instances: demo-leader-0, demo-replica-0, demo-replica-1, demo-replica-2)"},
		{name: "no instances reported", cluster: noInstances, pod: "demo-replica-0",
			wantErr: "demo-replica-0 is not an instance of demo (instances: none reported)"},
		{name: "already leader", cluster: degradedCluster(), pod: "demo-leader-0", wantErr: "demo-leader-0 already leads demo"},
		{name: "not ready", cluster: degradedCluster(), pod: "demo-replica-1",
			wantErr: "demo-replica-1 is not ready: CrashLoopBackOff: back-off 5m0s restarting failed container; last run: exit code 1 (Error): boom"},
		{name: "not ready without a reason", cluster: notReadyNoReason, pod: "demo-replica-0",
			wantErr: "demo-replica-0 is not ready: no reason reported (phase Running)"},
		{name: "another change of leader under way", cluster: switching, pod: "demo-replica-0",
			wantErr: "demo is already switching to demo-replica-1 (phase FailingOver); wait until it is done"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := validatePromote(tc.cluster, tc.pod)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func fakeClient(t *testing.T, objs ...client.Object) client.WithWatch {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := sutrav1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&sutrav1.SutraCluster{}).WithObjects(objs...).Build()
}

func get(t *testing.T, c client.Reader) *sutrav1.SutraCluster {
	t.Helper()
	sc := &sutrav1.SutraCluster{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "prod", Name: "demo"}, sc); err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestRequestSwitchoverSetsOnlyTargetLeader(t *testing.T) {
	c := fakeClient(t, degradedCluster())
	before := get(t, c)
	if err := requestSwitchover(context.Background(), c, "prod", "demo", "demo-replica-0"); err != nil {
		t.Fatal(err)
	}
	after := get(t, c)
	if after.Status.TargetLeader != "demo-replica-0" {
		t.Fatalf("status.targetLeader = %q, want demo-replica-0", after.Status.TargetLeader)
	}
	after.Status.TargetLeader = before.Status.TargetLeader
	after.ResourceVersion = before.ResourceVersion
	if !apiequality.Semantic.DeepEqual(before, after) {
		t.Errorf("the patch changed more than status.targetLeader:\nbefore %+v\nafter  %+v", before, after)
	}

	// A refused switchover patches nothing.
	err := requestSwitchover(context.Background(), c, "prod", "demo", "demo-replica-1")
	if err == nil || !strings.Contains(err.Error(), "is not ready") {
		t.Fatalf("err = %v, want not ready", err)
	}
	if got := get(t, c).Status.TargetLeader; got != "demo-replica-0" {
		t.Errorf("status.targetLeader = %q after a refused switchover", got)
	}
	if err := requestSwitchover(context.Background(), c, "prod", "nope", "demo-replica-0"); err == nil || !strings.Contains(err.Error(), "get sutracluster prod/nope") {
		t.Errorf("err = %v, want not found", err)
	}
}

func TestSwitchoverPatch(t *testing.T) {
	b, err := switchoverPatch(`a"b`, "42")
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"metadata":{"resourceVersion":"42"},"status":{"targetLeader":"a\"b"}}`; string(b) != want {
		t.Errorf("patch = %s, want %s", b, want)
	}
}

func TestWaitForLeader(t *testing.T) {
	c := fakeClient(t, degradedCluster())
	ctx := context.Background()
	go func() {
		time.Sleep(30 * time.Millisecond)
		sc := get(t, c)
		sc.Status.CurrentLeader, sc.Status.Epoch = "demo-replica-0", 4
		if err := c.Status().Update(ctx, sc); err != nil {
			t.Error(err)
		}
	}()
	sc, err := waitForLeader(ctx, c, "prod", "demo", "demo-replica-0", 5*time.Millisecond, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Status.Epoch != 4 {
		t.Errorf("epoch = %d, want 4", sc.Status.Epoch)
	}

	_, err = waitForLeader(ctx, c, "prod", "demo", "demo-replica-2", 5*time.Millisecond, 50*time.Millisecond)
	want := "demo-replica-2 does not lead demo after 50ms: phase Degraded, current leader demo-replica-0, target leader demo-leader-0; " +
		"conditions: ReplicationHealthy=False (ReplicaNotStreaming: 1 replica is not streaming from the leader: demo-replica-1 (disconnected))"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

func TestRequestRestart(t *testing.T) {
	sc := degradedCluster()
	sc.Annotations = map[string]string{"keep": "me"}
	c := fakeClient(t, sc)
	before := get(t, c)
	if err := requestRestart(context.Background(), c, "prod", "demo", testNow); err != nil {
		t.Fatal(err)
	}
	after := get(t, c)
	got := after.Annotations[sutrav1.AnnotationRestartedAt]
	if ts, err := time.Parse(time.RFC3339, got); err != nil || !ts.Equal(testNow) {
		t.Fatalf("annotation %s = %q, want %s", sutrav1.AnnotationRestartedAt, got, testNow.Format(time.RFC3339))
	}
	delete(after.Annotations, sutrav1.AnnotationRestartedAt)
	after.ResourceVersion = before.ResourceVersion
	if !apiequality.Semantic.DeepEqual(before, after) {
		t.Errorf("the patch changed more than the annotation:\nbefore %+v\nafter  %+v", before, after)
	}
	if err := requestRestart(context.Background(), c, "prod", "nope", testNow); err == nil {
		t.Error("restart of a missing cluster succeeded")
	}
}

func TestSetFence(t *testing.T) {
	sc := degradedCluster()
	sc.Annotations = map[string]string{"keep": "me"}
	c := fakeClient(t, sc)
	if err := setFence(context.Background(), c, "prod", "demo", true); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c).Annotations; got[sutrav1.AnnotationFenced] != "true" || got["keep"] != "me" {
		t.Fatalf("annotations after fence: %v", got)
	}
	if err := setFence(context.Background(), c, "prod", "demo", false); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c).Annotations; len(got) != 1 || got["keep"] != "me" {
		t.Fatalf("annotations after --off: %v", got)
	}
	if err := setFence(context.Background(), c, "prod", "nope", true); err == nil {
		t.Error("fence of a missing cluster succeeded")
	}
}
