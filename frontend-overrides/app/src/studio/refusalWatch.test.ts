import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { watchRefusals } from "./refusalWatch";
import { json } from "../testing";

/** Lets the watcher's clone-and-parse (a few promise hops, a body read) run to the end. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setTimeout(resolve, 0));
}

const ENQUEUE = "/api/v1/queue/default/enqueue_batch";

describe("watchRefusals", () => {
  const original = window.fetch;
  const native = vi.fn<typeof fetch>();
  const onRefusal = vi.fn();

  beforeEach(() => {
    native.mockReset();
    onRefusal.mockReset();
    window.fetch = native;
    watchRefusals(onRefusal);
  });
  afterEach(() => {
    window.fetch = original;
  });

  it("reports an out-of-credits refusal and still hands the caller the original, readable response", async () => {
    const refused = json({ detail: "This generation needs 12 credits; the workspace has 4.", code: "insufficient_credits" }, 402);
    native.mockResolvedValueOnce(refused);
    const init = { method: "POST", body: "{}" };

    const response = await window.fetch(ENQUEUE, init);

    expect(native).toHaveBeenCalledWith(ENQUEUE, init);
    expect(response).toBe(refused);
    expect(response.status).toBe(402);
    expect(response.bodyUsed).toBe(false);
    expect(await response.json()).toEqual({
      detail: "This generation needs 12 credits; the workspace has 4.",
      code: "insufficient_credits",
    });

    await vi.waitFor(() => expect(onRefusal).toHaveBeenCalledTimes(1));
    const [refusal, url] = onRefusal.mock.calls[0];
    expect(url).toBe(ENQUEUE);
    expect(refusal).toEqual({
      title: "Out of credits",
      message: "This generation needs 12 credits; the workspace has 4.",
      fix: { label: "Get more credits", href: "/account/plan" },
    });
  });

  it("reads the URL of a URL or Request input", async () => {
    native.mockResolvedValueOnce(json({ detail: "FLUX is not in the Starter plan", code: "feature_not_in_plan" }, 403));
    await window.fetch(new URL(`https://studio.pingvas.example${ENQUEUE}`));
    native.mockResolvedValueOnce(json({ detail: "Storage is full", code: "storage_quota_exceeded" }, 403));
    await window.fetch(new Request("https://studio.pingvas.example/api/v1/images/upload", { method: "POST" }));

    await vi.waitFor(() => expect(onRefusal).toHaveBeenCalledTimes(2));
    const calls = onRefusal.mock.calls.map(([refusal, url]) => [refusal.title, url]);
    expect(calls).toContainEqual(["Not in your plan", `https://studio.pingvas.example${ENQUEUE}`]);
    expect(calls).toContainEqual(["Storage full", "https://studio.pingvas.example/api/v1/images/upload"]);
  });

  it("passes Retry-After of a 429 into the refusal", async () => {
    native.mockResolvedValueOnce(json({ detail: "Too many requests.", code: "rate_limited" }, 429, { "Retry-After": "120" }));
    await window.fetch("/api/v1/images/upload");
    await vi.waitFor(() => expect(onRefusal).toHaveBeenCalledTimes(1));
    expect(onRefusal.mock.calls[0][0].message).toBe("Too many requests. Try again in 2 minutes.");
  });

  it("reports nothing for a 403 the customer cannot act on", async () => {
    const forbidden = json({ detail: "Only owners can do that", code: "forbidden" }, 403);
    native.mockResolvedValueOnce(forbidden);
    const response = await window.fetch("/api/v1/tenant/members/u-1", { method: "DELETE" });
    expect(response).toBe(forbidden);
    await settle();
    expect(onRefusal).not.toHaveBeenCalled();
    expect(await response.json()).toMatchObject({ code: "forbidden" });
  });

  it("reports nothing for a 500, even one carrying a refusal code", async () => {
    native.mockResolvedValueOnce(json({ detail: "Internal Server Error", code: "insufficient_credits" }, 500));
    const response = await window.fetch(ENQUEUE, { method: "POST" });
    expect(response.status).toBe(500);
    await settle();
    expect(onRefusal).not.toHaveBeenCalled();
  });

  it("reports nothing for a URL outside /api/", async () => {
    native.mockResolvedValueOnce(json({ detail: "No credits", code: "insufficient_credits" }, 402));
    await window.fetch("/pingvas/app/assets/logo.svg");
    native.mockResolvedValueOnce(json({ detail: "No credits", code: "insufficient_credits" }, 402));
    await window.fetch("https://cdn.example.com/v1/thing");
    await settle();
    expect(onRefusal).not.toHaveBeenCalled();
  });

  it("passes successes through untouched", async () => {
    const ok = json({ item_ids: [1, 2] }, 200);
    native.mockResolvedValueOnce(ok);
    const response = await window.fetch(ENQUEUE, { method: "POST" });
    expect(response).toBe(ok);
    await settle();
    expect(onRefusal).not.toHaveBeenCalled();
  });

  it("lets a network failure reach the caller", async () => {
    native.mockRejectedValueOnce(new TypeError("Failed to fetch"));
    await expect(window.fetch(ENQUEUE)).rejects.toThrow("Failed to fetch");
    expect(onRefusal).not.toHaveBeenCalled();
  });
});
