/** Settings for API ("postback") mode: PayPal's REST API verifies the delivery for us. */
export interface PaypalApiOptions {
  /** `https://api-m.paypal.com` (live) or `https://api-m.sandbox.paypal.com`; from configuration, trusted. */
  readonly baseUrl: string
  readonly clientId: string
  readonly clientSecret: string
}

export const apiUrl = (baseUrl: string, path: string): string => `${baseUrl.replace(/\/+$/, '')}${path}`
