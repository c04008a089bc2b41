import { ADMIN_TOKEN } from './test-service.ts'

export const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` }

export async function adminGet<T = unknown>(
  baseUrl: string,
  path: string,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${baseUrl}${path}`, { headers: bearer })
  return { status: res.status, body: (await res.json()) as T }
}

export async function adminPost<T = unknown>(
  baseUrl: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { ...bearer, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, body: (await res.json()) as T }
}
