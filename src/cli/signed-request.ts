/** What a signer produces for one delivery: the exact body and the headers that prove it. */
export interface SignedRequest {
  body: string
  headers: Record<string, string>
}

/** Signs one copy of the event; called once per delivery so every copy carries a fresh signature. */
export type Signer = (now: Date) => SignedRequest
