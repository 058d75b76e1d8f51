// Helpers the unit tests share (never imported by the app, so never in its bundle).

/** A JSON `Response`, as the service answers. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}
