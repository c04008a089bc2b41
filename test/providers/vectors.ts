/** Typed access to test/fixtures/vectors/vectors.json (a byte-exact copy of the shared public vectors). */
import { fixtureText } from './helpers.ts'

export interface AdyenItemVector {
  source: string
  key: string
  item: Record<string, unknown>
  signingString: string
  hmacSignature: string
}
export interface AdyenStringVector {
  source: string
  key: string
  data: string
  hmac: string
}
export interface AdyenRawBodyVector {
  source: string
  key: string
  body?: string
  bodyFile?: string
  HmacSignature: string
}
export interface PaypalVector {
  source: string
  bodyFile: string
  certFile: string
  webhookId: string
  headers: Record<string, string>
  crc32: number
  signedMessage: string
}

interface Vectors {
  adyen_item: AdyenItemVector[]
  adyen_string: AdyenStringVector[]
  adyen_raw_body: AdyenRawBodyVector[]
  paypal: PaypalVector[]
  paypal_trust_anchor: { file: string }
  crc32_checks: { data: string; crc32: number }[]
}

export const vectors = JSON.parse(fixtureText('vectors/vectors.json')) as Vectors
