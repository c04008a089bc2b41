/** Resolves after the event loop has polled for I/O once (setImmediate), so waiting requests get read. */
export const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))
