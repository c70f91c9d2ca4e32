package certs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"net"
	"slices"
	"time"
)

// Reason says why a stored leaf must be issued again; ReasonNone keeps it.
type Reason string

// Renewal reasons, in the order Check tests them.
const (
	ReasonNone Reason = ""
	// ReasonMissing: no certificate or key is stored.
	ReasonMissing Reason = "missing"
	// ReasonInvalid: the stored certificate or key cannot be parsed, or
	// they do not match.
	ReasonInvalid Reason = "invalid"
	// ReasonCAChanged: the leaf was not signed by the current CA, or the CA
	// stored beside it (ca.crt) is not the current one.
	ReasonCAChanged Reason = "CA changed"
	// ReasonNamesChanged: its DNS names, IPs or URIs differ from the
	// request's.
	ReasonNamesChanged Reason = "names changed"
	// ReasonValidityChanged: its lifetime is not the request's (the
	// configured duration changed), and the CA's expiry did not cut it.
	ReasonValidityChanged Reason = "validity changed"
	// ReasonDue: less than a third of its lifetime is left, or it is not
	// valid yet.
	ReasonDue Reason = "due"
)

// RenewAt is when a certificate valid from notBefore to notAfter is due
// for renewal: when a third of its lifetime is left.
func RenewAt(notBefore, notAfter time.Time) time.Time {
	return notAfter.Add(-notAfter.Sub(notBefore) / 3)
}

// Due reports whether a certificate valid from notBefore to notAfter must
// be replaced at now: it is at or past RenewAt, or not valid yet (it was
// issued by a clock ahead of now, and peers with such a clock would refuse
// it).
func Due(notBefore, notAfter, now time.Time) bool {
	return now.Before(notBefore) || !now.Before(RenewAt(notBefore, notAfter))
}

// Check decides whether a stored leaf (certPEM, keyPEM and the CA stored
// beside it, caPEM) may stay, given the current CA, the request it should
// satisfy and the time. It is pure apart from parsing.
func Check(certPEM, keyPEM, caPEM []byte, ca *KeyPair, want Request, now time.Time) Reason {
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		return ReasonMissing
	}
	leaf, err := ParseCertificate(certPEM)
	if err != nil {
		return ReasonInvalid
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return ReasonInvalid
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(leaf.PublicKey) {
		return ReasonInvalid
	}
	if !bytes.Equal(caPEM, ca.CertPEM) || leaf.CheckSignatureFrom(ca.Cert) != nil {
		return ReasonCAChanged
	}
	if !SameNames(leaf, want) {
		return ReasonNamesChanged
	}
	lifetime := leaf.NotAfter.Sub(leaf.NotBefore) - Backdate
	if d := lifetime - want.Validity; (d > time.Second || d < -time.Second) && !leaf.NotAfter.Equal(ca.Cert.NotAfter) {
		return ReasonValidityChanged
	}
	if Due(leaf.NotBefore, leaf.NotAfter, now) {
		return ReasonDue
	}
	return ReasonNone
}

// SameNames reports whether cert carries exactly the request's DNS names,
// IPs and URIs, in any order.
func SameNames(cert *x509.Certificate, want Request) bool {
	uris := make([]string, len(cert.URIs))
	for i, u := range cert.URIs {
		uris[i] = u.String()
	}
	return sameSet(cert.DNSNames, want.DNSNames) && sameSet(uris, want.URIs) &&
		sameSet(ipStrings(cert.IPAddresses), ipStrings(want.IPs))
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
