package controllers

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

// envtest has no kubelet or scheduler: the test writes the status of the
// pods the operator made.
var _ = Describe("SutraCluster instances", func() {
	It("shows why each pod does not start and warns once per transition", func() {
		c := newCluster(uniqueName("inst"), 2)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		n := c.Name
		for _, in := range []string{n + "-1", n + "-2", n + "-3"} {
			Eventually(getPod(in)).WithTimeout(timeout).WithPolling(poll).Should(Not(BeNil()))
		}

		setStatus := func(p *corev1.Pod, st corev1.PodStatus) {
			GinkgoHelper()
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
			p.Status = st
			Expect(k8sClient.Status().Update(ctx, p)).To(Succeed())
		}
		waiting := func(reason, msg string, restarts int32, last *corev1.ContainerStateTerminated) corev1.PodStatus {
			return corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: resources.ContainerName, Image: "sutra/storage:1.0", RestartCount: restarts,
					State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}},
					LastTerminationState: corev1.ContainerState{Terminated: last}}}}
		}
		boom := &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: "boom"}

		leader, replica0, replica1 := getPod(n+"-1")(Default), getPod(n+"-2")(Default), getPod(n+"-3")(Default)
		setStatus(leader, waiting("CrashLoopBackOff", "back-off 10s restarting failed container", 3, boom))
		setStatus(replica0, waiting("ErrImagePull", `failed to pull image "sutra/storage:1.0": not found`, 0, nil))
		setStatus(replica1, corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled,
			Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: 1 Insufficient cpu."}}})

		instances := func(g Gomega) map[string]sutrav1.InstanceStatus {
			got := &sutrav1.SutraCluster{}
			g.Expect(k8sClient.Get(ctx, key(n), got)).To(Succeed())
			m := map[string]sutrav1.InstanceStatus{}
			for _, in := range got.Status.Instances {
				m[in.Name] = in
			}
			return m
		}
		Eventually(func(g Gomega) {
			m := instances(g)
			g.Expect(m).To(HaveLen(3))
			l := m[n+"-1"]
			g.Expect(l.Role).To(Equal("leader"))
			g.Expect(l.Reason).To(Equal("CrashLoopBackOff"))
			g.Expect(l.Message).To(ContainSubstring("exit code 1"))
			g.Expect(l.Message).To(ContainSubstring("boom"))
			g.Expect(l.Restarts).To(Equal(int32(3)))
			g.Expect(l.Image).To(Equal("sutra/storage:1.0"))
			g.Expect(m[n+"-2"].Reason).To(Equal("ErrImagePull"))
			g.Expect(m[n+"-2"].Message).To(ContainSubstring("not found"))
			g.Expect(m[n+"-3"].Reason).To(Equal(sutrav1.InstanceUnschedulable))
			g.Expect(m[n+"-3"].Message).To(Equal("0/1 nodes are available: 1 Insufficient cpu."))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		// The same failure again (another restart, the pull retried) is no
		// new transition.
		setStatus(leader, waiting("CrashLoopBackOff", "back-off 20s restarting failed container", 4, boom))
		setStatus(replica0, waiting("ImagePullBackOff", `Back-off pulling image "sutra/storage:1.0"`, 0, nil))
		Eventually(func(g Gomega) {
			m := instances(g)
			g.Expect(m[n+"-1"].Restarts).To(Equal(int32(4)))
			g.Expect(m[n+"-2"].Reason).To(Equal("ImagePullBackOff"))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		// Each pod's entering its failure was told once, naming the pod,
		// reason and message.
		failing := func(g Gomega) map[string]int {
			list := &eventsv1.EventList{}
			g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			count := map[string]int{}
			for _, e := range list.Items {
				if e.Regarding.Name != n || e.Reason != sutrav1.EventInstanceFailing {
					continue
				}
				g.Expect(e.Type).To(Equal(corev1.EventTypeWarning))
				g.Expect(e.Related).NotTo(BeNil())
				g.Expect(e.Related.Kind).To(Equal("Pod"))
				g.Expect(e.Note).To(HavePrefix("pod " + e.Related.Name + ":"))
				times := 1
				if e.Series != nil {
					times = int(e.Series.Count)
				}
				for _, pod := range []string{leader.Name, replica0.Name, replica1.Name} {
					if strings.HasPrefix(e.Note, "pod "+pod+":") {
						count[pod] += times
					}
				}
			}
			return count
		}
		want := map[string]int{leader.Name: 1, replica0.Name: 1, replica1.Name: 1}
		Eventually(failing).WithTimeout(timeout).WithPolling(poll).Should(Equal(want))
		Consistently(failing).WithTimeout(2 * time.Second).WithPolling(200 * time.Millisecond).Should(Equal(want))

		list := &eventsv1.EventList{}
		Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		var notes []string
		for _, e := range list.Items {
			if e.Regarding.Name == n && e.Reason == sutrav1.EventInstanceFailing {
				notes = append(notes, e.Note)
			}
		}
		Expect(notes).To(ContainElements(
			ContainSubstring("pod "+leader.Name+": CrashLoopBackOff: back-off 10s restarting failed container; last run: exit code 1 (Error): boom"),
			ContainSubstring("pod "+replica0.Name+": ErrImagePull: "),
			Equal("pod "+replica1.Name+": Unschedulable: 0/1 nodes are available: 1 Insufficient cpu."),
		))
	})
})
