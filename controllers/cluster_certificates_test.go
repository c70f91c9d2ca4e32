package controllers

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/certs"
	"github.com/sutra/sutra-operator/internal/resources"
)

func TestUserCA(t *testing.T) {
	ca, err := certs.NewCA("corp", testNow, 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := certs.Issue(ca, certs.Request{URIs: []string{"urn:sutra:node:x"}, Validity: time.Hour}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	secret := func(data map[string][]byte) *corev1.Secret { return &corev1.Secret{Data: data} }
	for _, tc := range []struct {
		name    string
		secret  *corev1.Secret
		now     time.Time
		problem string // "" means usable
	}{
		{"a CA with its key", secret(map[string][]byte{"tls.crt": ca.CertPEM, "tls.key": ca.KeyPEM}), testNow, ""},
		{"a trust bundle without a key", secret(map[string][]byte{"tls.crt": ca.CertPEM, "ca.crt": ca.CertPEM}), testNow, "has no tls.key"},
		{"empty", secret(nil), testNow, "has no tls.crt or tls.key"},
		{"a leaf, not a CA", secret(map[string][]byte{"tls.crt": leaf.CertPEM, "tls.key": leaf.KeyPEM}), testNow, "does not hold a usable CA"},
		{"a key of another certificate", secret(map[string][]byte{"tls.crt": ca.CertPEM, "tls.key": leaf.KeyPEM}), testNow, "does not hold a usable CA"},
		{"expired", secret(map[string][]byte{"tls.crt": ca.CertPEM, "tls.key": ca.KeyPEM}), testNow.Add(400 * 24 * time.Hour), "expired"},
	} {
		got, problem, err := userCA("corp-ca", tc.secret, tc.now)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		switch {
		case tc.problem == "" && (problem != "" || got == nil):
			t.Errorf("%s: problem %q, want a usable CA", tc.name, problem)
		case tc.problem != "" && (got != nil || !strings.Contains(problem, tc.problem) || !strings.Contains(problem, "corp-ca")):
			t.Errorf("%s: problem %q, want one naming the Secret and saying %q", tc.name, problem, tc.problem)
		}
	}
}

func TestClientCertCache(t *testing.T) {
	ca1, _ := certs.NewCA("one", testNow, 0)
	ca2, _ := certs.NewCA("two", testNow, 0)
	day := 24 * time.Hour
	key := types.NamespacedName{Namespace: "ns", Name: "s"}
	var cc clientCertCache
	cfg, renewAt, err := cc.config(key, ca1, 90*day, testNow)
	if err != nil {
		t.Fatal(err)
	}
	leaf := cfg.Certificates[0].Leaf
	if leaf == nil || certs.Identity(leaf) != resources.OperatorIdentity || leaf.CheckSignatureFrom(ca1.Cert) != nil {
		t.Fatalf("operator certificate %v, want %s signed by the CA", leaf, resources.OperatorIdentity)
	}
	if cfg.ServerName != "" || cfg.RootCAs == nil || cfg.MinVersion < 0x0303 {
		t.Errorf("config: server name %q, roots %v, min version %x", cfg.ServerName, cfg.RootCAs, cfg.MinVersion)
	}
	if want := certs.RenewAt(leaf.NotBefore, leaf.NotAfter); !renewAt.Equal(want) {
		t.Errorf("renewAt %v, want %v", renewAt, want)
	}
	for _, tc := range []struct {
		name     string
		ca       *certs.KeyPair
		validity time.Duration
		now      time.Time
		same     bool
	}{
		{"same CA, a day later", ca1, 90 * day, testNow.Add(day), true},
		{"same CA, past the renewal time", ca1, 90 * day, testNow.Add(61 * day), false},
		{"another CA", ca2, 90 * day, testNow.Add(day), false},
		{"another duration", ca1, 30 * day, testNow.Add(day), false},
	} {
		var fresh clientCertCache
		first, _, _ := fresh.config(key, ca1, 90*day, testNow)
		got, _, err := fresh.config(key, tc.ca, tc.validity, tc.now)
		if err != nil {
			t.Fatal(err)
		}
		if (got == first) != tc.same {
			t.Errorf("%s: reused %v, want %v", tc.name, got == first, tc.same)
		}
		if !tc.same && got.Certificates[0].Leaf.CheckSignatureFrom(tc.ca.Cert) != nil {
			t.Errorf("%s: the new certificate is not signed by the current CA", tc.name)
		}
	}
	if cc.current(key, testNow.Add(day)) != cfg {
		t.Error("current: not the certificate last issued")
	}
	if cc.current(key, leaf.NotAfter.Add(time.Second)) != nil {
		t.Error("current: an expired certificate")
	}
	cc.forget(key)
	if cc.current(key, testNow) != nil {
		t.Error("current: a forgotten cluster's certificate")
	}
	if again, _, _ := cc.config(key, ca1, 90*day, testNow); again == cfg {
		t.Error("a forgotten cluster's certificate was reused")
	}
}

func TestStatusCertificates(t *testing.T) {
	notAfter := metav1.NewTime(testNow.Add(time.Hour))
	certList := []sutrav1.CertificateStatus{
		{SecretName: "s-client", Identity: "urn:sutra:writer:s", NotAfter: notAfter},
		{SecretName: "s-ca", CA: true, NotAfter: notAfter},
		{SecretName: "s-2-tls", Identity: "urn:sutra:node:s-2", NotAfter: notAfter},
		{SecretName: "s-1-tls", Identity: "urn:sutra:node:s-1", NotAfter: notAfter},
	}
	c := testCluster(1, sutrav1.PhaseRunning)
	s := podScope(c, nil)
	s.certs = &certState{certificates: certList,
		condition: certCondition(metav1.ConditionTrue, sutrav1.ReasonCertificatesIssued, "ok")}
	st := computeStatus(s)
	var order []string
	for _, cs := range st.Certificates {
		order = append(order, cs.SecretName)
	}
	if want := []string{"s-ca", "s-1-tls", "s-2-tls", "s-client"}; !slices.Equal(order, want) {
		t.Errorf("certificates %v, want %v (the CA first, then by name)", order, want)
	}
	if certList[0].SecretName != "s-client" {
		t.Error("computeStatus reordered the scope's list")
	}
	if cond := meta.FindStatusCondition(st.Conditions, sutrav1.ConditionCertificatesReady); cond == nil || cond.Status != metav1.ConditionTrue {
		t.Errorf("CertificatesReady = %+v", cond)
	}

	// Disabling TLS clears both.
	off := testCluster(1, sutrav1.PhaseRunning)
	off.Spec.TLS.Mode = sutrav1.TLSDisabled
	off.Status = *st
	st = computeStatus(podScope(off, nil))
	if len(st.Certificates) != 0 || meta.FindStatusCondition(st.Conditions, sutrav1.ConditionCertificatesReady) != nil {
		t.Errorf("with TLS disabled: certificates %v, condition %v", st.Certificates, meta.FindStatusCondition(st.Conditions, sutrav1.ConditionCertificatesReady))
	}

	// A reconcile that stopped before the phase keeps what was known.
	on := testCluster(1, sutrav1.PhaseRunning)
	on.Status.Certificates = certList[:1]
	if st := computeStatus(podScope(on, nil)); len(st.Certificates) != 1 {
		t.Errorf("certificates %v, want the previous ones kept", st.Certificates)
	}
}

func TestRecordCertificates(t *testing.T) {
	status := func(s metav1.ConditionStatus, reason, msg string) *sutrav1.SutraClusterStatus {
		st := &sutrav1.SutraClusterStatus{}
		meta.SetStatusCondition(&st.Conditions, certCondition(s, reason, msg))
		return st
	}
	ok := status(metav1.ConditionTrue, sutrav1.ReasonCertificatesIssued, "fine")
	noKey := status(metav1.ConditionFalse, sutrav1.ReasonCASecretInvalid, "Secret corp-ca has no tls.key")
	missing := status(metav1.ConditionFalse, sutrav1.ReasonCASecretInvalid, "Secret corp-ca not found")
	for _, tc := range []struct {
		name          string
		before, after *sutrav1.SutraClusterStatus
		want          []string
	}{
		{"a new cluster whose CA has no key", &sutrav1.SutraClusterStatus{}, noKey, []string{"Warning CASecretInvalid Secret corp-ca has no tls.key"}},
		{"the key goes missing", ok, noKey, []string{"Warning CASecretInvalid Secret corp-ca has no tls.key"}},
		{"still without a key", noKey, noKey, nil},
		{"another problem", noKey, missing, []string{"Warning CASecretInvalid Secret corp-ca not found"}},
		{"fixed", noKey, ok, nil},
		{"fine", ok, ok, nil},
	} {
		rec := events.NewFakeRecorder(10)
		(&SutraClusterReconciler{Recorder: rec}).recordCertificates(testCluster(1, sutrav1.PhaseRunning), tc.before, tc.after)
		close(rec.Events)
		var got []string
		for e := range rec.Events {
			got = append(got, e)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: events %q, want %q", tc.name, got, tc.want)
		}
	}
}
