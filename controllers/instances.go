package controllers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

// failingReasons are the instance reasons told as a Warning event when an
// instance enters them, by family: the kubelet alternates ErrImagePull and
// ImagePullBackOff on every retry, which is one failure, not many.
var failingReasons = map[string]string{
	"ErrImagePull":                "ImagePull",
	"ImagePullBackOff":            "ImagePull",
	"CrashLoopBackOff":            "CrashLoopBackOff",
	sutrav1.InstanceUnschedulable: sutrav1.InstanceUnschedulable,
}

// instanceStatuses describes every pod of c, sorted by name. It is pure.
func instanceStatuses(c *sutrav1.SutraCluster, pods map[string]*corev1.Pod) []sutrav1.InstanceStatus {
	out := make([]sutrav1.InstanceStatus, 0, len(pods))
	for _, pod := range pods {
		in := instanceStatus(c, pod)
		in.UpToDate = resources.PodUpToDate(c, pod)
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) == 0 {
		return nil
	}
	return out
}

func instanceStatus(c *sutrav1.SutraCluster, pod *corev1.Pod) sutrav1.InstanceStatus {
	in := sutrav1.InstanceStatus{
		Name:  pod.Name,
		Role:  roleOf(pod),
		Node:  pod.Spec.NodeName,
		Phase: pod.Status.Phase,
		Ready: podCondition(pod, corev1.PodReady) == corev1.ConditionTrue,
	}
	for _, ctr := range pod.Spec.Containers {
		if ctr.Name == resources.ContainerName {
			in.Image = ctr.Image
		}
	}
	cs := storageContainerStatus(pod)
	if cs != nil {
		in.Restarts = cs.RestartCount
	}
	switch {
	case pod.DeletionTimestamp != nil:
		in.Reason = sutrav1.InstanceTerminating
		in.Message = "pod is terminating (deleted at " + pod.DeletionTimestamp.UTC().Format(time.RFC3339) + ")"
	case in.Ready:
	case cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
		in.Reason = cs.State.Waiting.Reason
		in.Message = waitingMessage(cs)
	case cs != nil && cs.State.Terminated != nil:
		t := cs.State.Terminated
		in.Reason = t.Reason
		if in.Reason == "" {
			in.Reason = "Terminated"
		}
		in.Message = terminatedMessage(t)
	default:
		for _, cond := range pod.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
				in.Reason, in.Message = sutrav1.InstanceUnschedulable, cond.Message
			}
		}
	}
	return in
}

// waitingMessage is the kubelet's message for a waiting container, followed
// by how it last ended when it has run before (CrashLoopBackOff).
func waitingMessage(cs *corev1.ContainerStatus) string {
	var parts []string
	if m := strings.TrimSpace(cs.State.Waiting.Message); m != "" {
		parts = append(parts, m)
	}
	if t := cs.LastTerminationState.Terminated; t != nil {
		parts = append(parts, "last run: "+terminatedMessage(t))
	}
	return strings.Join(parts, "; ")
}

func terminatedMessage(t *corev1.ContainerStateTerminated) string {
	msg := fmt.Sprintf("exit code %d", t.ExitCode)
	if t.Reason != "" {
		msg += " (" + t.Reason + ")"
	}
	if m := strings.TrimSpace(t.Message); m != "" {
		msg += ": " + m
	}
	return msg
}

func storageContainerStatus(pod *corev1.Pod) *corev1.ContainerStatus {
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == resources.ContainerName {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	return nil
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, cond := range pod.Status.Conditions {
		if cond.Type == t {
			return cond.Status
		}
	}
	return corev1.ConditionUnknown
}

// roleOf is the pod's role label.
func roleOf(pod *corev1.Pod) string { return pod.Labels[resources.LabelRole] }

// recordInstances emits one Warning per instance that enters a failing
// reason, or moves to a failing reason of another family.
func (r *SutraClusterReconciler) recordInstances(c *sutrav1.SutraCluster, before, after *sutrav1.SutraClusterStatus) {
	was := make(map[string]string, len(before.Instances))
	for _, in := range before.Instances {
		was[in.Name] = in.Reason
	}
	for _, in := range after.Instances {
		family := failingReasons[in.Reason]
		if family == "" || failingReasons[was[in.Name]] == family {
			continue
		}
		// The pod as related object also keeps the recorder from folding
		// different pods' events into one series.
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: in.Name}}
		r.event(c, pod, corev1.EventTypeWarning, sutrav1.EventInstanceFailing, "ObservePod",
			"pod %s: %s: %s", in.Name, in.Reason, in.Message)
	}
}
