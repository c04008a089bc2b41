/**
 * The five transmission headers PayPal sends with every delivery. All are required; the algorithm header
 * is attacker-controlled, so only the one algorithm PayPal actually uses is accepted (no SHA1 downgrade).
 */
import { rejected } from './failures.ts'

export interface PaypalTransmission {
  readonly transmissionId: string
  readonly transmissionTime: string
  readonly transmissionSig: string
  readonly certUrl: string
  readonly authAlgo: string
}

export const PAYPAL_AUTH_ALGO = 'SHA256withRSA'

/** Generous caps (PayPal's own API limits these fields to ≤500 characters) so hostile headers stay cheap. */
const MAX_HEADER_LENGTH = 2048

function required(headers: Headers, name: string): string {
  // Headers.get is case-insensitive, so `paypal-transmission-id` and `PAYPAL-TRANSMISSION-ID` both work.
  const value = headers.get(name)
  if (value === null || value.length === 0) throw rejected('missing_header', `missing ${name} header`)
  if (value.length > MAX_HEADER_LENGTH) throw rejected('malformed_header', `${name} header is too long`)
  return value
}

export function readPaypalTransmission(headers: Headers): PaypalTransmission {
  const transmission = {
    transmissionId: required(headers, 'PAYPAL-TRANSMISSION-ID'),
    transmissionTime: required(headers, 'PAYPAL-TRANSMISSION-TIME'),
    transmissionSig: required(headers, 'PAYPAL-TRANSMISSION-SIG'),
    certUrl: required(headers, 'PAYPAL-CERT-URL'),
    authAlgo: required(headers, 'PAYPAL-AUTH-ALGO'),
  }
  if (transmission.authAlgo !== PAYPAL_AUTH_ALGO) {
    throw rejected(
      'unsupported_auth_algo',
      `unsupported PAYPAL-AUTH-ALGO (only ${PAYPAL_AUTH_ALGO} is accepted)`,
    )
  }
  return transmission
}
