// Watches the UI's API calls for the service's refusals a customer can act on (out of credits, not
// in the plan, storage full, payment overdue, suspended, rate limited) and reports each once.
// Responses pass through unchanged: InvokeAI's UI still handles them as it always did.

import { errorOf } from "../shared/api";
import { type Refusal, refusalFor } from "../shared/refusals";

const REFUSAL_STATUSES = new Set([402, 403, 429]);

export function watchRefusals(onRefusal: (refusal: Refusal, url: string) => void): void {
  const native = window.fetch.bind(window);
  window.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const response = await native(input, init);
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (REFUSAL_STATUSES.has(response.status) && url.includes("/api/")) {
      void errorOf(response.clone()).then((error) => {
        const refusal = refusalFor(error.code, error.detail, error.retryAfter);
        if (refusal) onRefusal(refusal, url);
      });
    }
    return response;
  };
}
