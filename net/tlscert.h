/*
 * tlscert.h - a server's TLS identity: a self-signed certificate made at
 * `dti-hub init` (or at a district agent's first `dti-agent relay`) unless
 * the operator brings one, and its SHA-256 fingerprint, which enrolment
 * tokens carry (or `--fingerprint` gives) and agents pin.
 */
#ifndef DTI_TLSCERT_H
#define DTI_TLSCERT_H

#include "crypto.h"
#include "err.h"

/*
 * Create an ECDSA P-256 key and a self-signed X.509 v3 certificate for host
 * (an IP address gets an IP SAN, anything else a DNS SAN; "localhost" and
 * 127.0.0.1 are always included), valid for 10 years. Writes cert_path (PEM,
 * 0644) and key_path (PEM, 0600) atomically.
 */
int tlscert_generate(const char *host, const char *cert_path, const char *key_path,
                     struct dti_err *e);
/* Fingerprint (crypto_cert_fingerprint) of the first certificate in a PEM file. */
int tlscert_fingerprint_file(const char *cert_path, char out[CRYPTO_FP_HEX_LEN + 1],
                             struct dti_err *e);
/* Check that key_path holds the private key of the certificate in cert_path. */
int tlscert_check_pair(const char *cert_path, const char *key_path, struct dti_err *e);

#endif
