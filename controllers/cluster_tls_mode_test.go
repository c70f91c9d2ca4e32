package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

func TestInitialTLSMode(t *testing.T) {
	pod := func(env ...string) corev1.Pod {
		ctr := corev1.Container{Name: resources.ContainerName}
		for _, e := range env {
			ctr.Env = append(ctr.Env, corev1.EnvVar{Name: e, Value: "x"})
		}
		return corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "sidecar"}, ctr}}}
	}
	for _, tc := range []struct {
		name string
		pods []corev1.Pod
		want sutrav1.TLSMode
	}{
		{"a new cluster", nil, sutrav1.TLSEnabled},
		{"pods on TLS", []corev1.Pod{pod("SUTRA_TLS_CERT"), pod("SUTRA_NODE_ID", "SUTRA_TLS_CERT")}, sutrav1.TLSEnabled},
		{"pods from before TLS", []corev1.Pod{pod("SUTRA_NODE_ID"), pod("SUTRA_NODE_ID")}, sutrav1.TLSDisabled},
		{"plaintext by choice", []corev1.Pod{pod("SUTRA_INSECURE")}, sutrav1.TLSDisabled},
		{"one pod without TLS among TLS pods", []corev1.Pod{pod("SUTRA_TLS_CERT"), pod()}, sutrav1.TLSDisabled},
	} {
		if got := initialTLSMode(tc.pods); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
