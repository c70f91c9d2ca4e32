// Package certs makes and checks the X.509 certificates of a Sutra cluster:
// a certificate authority, the leaves it signs, and the decision to renew a
// leaf. It uses only the standard library and does no I/O: the controller
// stores what it returns in Secrets.
//
// Keys are ECDSA P-256. Certificates and keys are PEM: "CERTIFICATE" blocks
// and a "PRIVATE KEY" (PKCS #8) block. ParseKeyPair also reads "EC PRIVATE
// KEY" and "RSA PRIVATE KEY" blocks, so a CA made elsewhere (cert-manager,
// openssl) can sign.
//
// Identities are URI SANs (urn:sutra:node:ID, urn:sutra:admin:NAME,
// urn:sutra:writer:NAME, urn:sutra:reader:NAME); internal/auth's policy
// says what each may call on a storage node (docs/security-certificates.md,
// "What each identity may do"). Every leaf has ExtKeyUsage
// ServerAuth and ClientAuth: a node serves with it and presents it when it
// dials its leader or its replicas.
//
// Lifetimes: a leaf's NotBefore is backdated by Backdate to absorb clock
// skew between the operator and the nodes; it is due for renewal once less
// than a third of its lifetime is left (RenewAt).
package certs
