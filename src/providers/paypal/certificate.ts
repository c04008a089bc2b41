/**
 * Vetting of a downloaded PayPal certificate. The chain is deliberately NOT required to lead to Node's
 * roots or to a pinned intermediate: PayPal's issuing CA has changed over time and pinning it would break
 * verification the day it changes again. What makes the certificate trustworthy here is where it came from
 * (an allow-listed PayPal host over TLS) plus the subject and validity checks below.
 */
import { X509Certificate } from 'node:crypto'
import { rejected, unavailable } from './failures.ts'

/** The names PayPal's message-signing certificates are issued to (live and sandbox). */
export const PAYPAL_CERT_NAMES = [
  'messageverificationcerts.paypal.com',
  'messageverificationcerts.sandbox.paypal.com',
] as const

const FIRST_PEM_BLOCK = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/

/**
 * The leaf (first CERTIFICATE block) of a PEM download. A download that is not a certificate is PayPal-side
 * breakage (it has happened), so it is a 503 and PayPal retries, never a rejection of the delivery.
 */
export function parseLeafCertificate(pem: string): X509Certificate {
  const block = FIRST_PEM_BLOCK.exec(pem)?.[0]
  if (block === undefined) throw unavailable('cert_unparseable', 'PayPal certificate is not PEM')
  try {
    const cert = new X509Certificate(block)
    if (Number.isNaN(Date.parse(cert.validFrom)) || Number.isNaN(Date.parse(cert.validTo))) {
      throw new Error('unreadable validity dates')
    }
    return cert
  } catch (err) {
    throw unavailable('cert_unparseable', 'PayPal certificate could not be parsed', err)
  }
}

/**
 * True when the subject CN or a DNS SAN is exactly one of PAYPAL_CERT_NAMES. OpenSSL's host check does the
 * matching (no wildcards, CN considered even when SANs exist), so escaping tricks in the subject string
 * cannot fake a match.
 */
export function hasPaypalSubject(cert: X509Certificate): boolean {
  return PAYPAL_CERT_NAMES.some(
    (name) =>
      cert.checkHost(name, { subject: 'always', wildcards: false, partialWildcards: false }) !== undefined,
  )
}

export function checkCertSubject(cert: X509Certificate): void {
  if (!hasPaypalSubject(cert))
    throw rejected('cert_subject', 'certificate is not a PayPal message-signing certificate')
}

/** notBefore ≤ now ≤ notAfter, with the caller's clock so tests can pin it. */
export function checkCertValidity(cert: X509Certificate, now: Date): void {
  const t = now.getTime()
  if (t < Date.parse(cert.validFrom) || t > Date.parse(cert.validTo)) {
    throw rejected('cert_expired', 'PayPal certificate is not valid at this time')
  }
}
