import { afterEach, describe, expect, it, vi } from "vitest";

import { ACCOUNT_PATHS, RESEND_VERIFICATION, humanSeconds, refusalFor, runAction } from "./refusals";

const CODES = [
  "insufficient_credits",
  "feature_not_in_plan",
  "storage_quota_exceeded",
  "payment_overdue",
  "tenant_suspended",
  "rate_limited",
  "email_not_verified",
] as const;

describe("refusalFor", () => {
  it.each(CODES)("gives %s a title and the service's detail", (code) => {
    const refusal = refusalFor(code, `The service says no (${code}).`);
    expect(refusal).not.toBeNull();
    expect(refusal!.title).toMatch(/\S/);
    expect(refusal!.message).toBe(`The service says no (${code}).`);
  });

  it("gives each code its own title", () => {
    const titles = CODES.map((code) => refusalFor(code, "x")!.title);
    expect(new Set(titles).size).toBe(CODES.length);
  });

  it.each(["insufficient_credits", "feature_not_in_plan"])("links %s to the plan page", (code) => {
    const refusal = refusalFor(code, "detail")!;
    expect(refusal.fix).not.toBeNull();
    expect(refusal.fix!.href).toBe("/account/plan");
    expect(refusal.fix!.href).toBe(ACCOUNT_PATHS.plan);
    expect(refusal.fix!.label).toMatch(/\S/);
  });

  it("names the out-of-credits and rate-limit refusals as the customer sees them", () => {
    expect(refusalFor("insufficient_credits", "d")!.title).toBe("Out of credits");
    expect(refusalFor("rate_limited", "d")!.title).toBe("Too many attempts");
  });

  it("says when to try again after a rate limit", () => {
    expect(refusalFor("rate_limited", "Slow down.", 120)!.message).toBe("Slow down. Try again in 2 minutes.");
    expect(refusalFor("rate_limited", "Slow down.", 30)!.message).toBe("Slow down. Try again in 30 seconds.");
  });

  it("puts the wait in words in place of the service's count of seconds", () => {
    expect(refusalFor("rate_limited", "Too many reset requests; try again in 3600 seconds", 3600)!.message).toBe(
      "Too many reset requests. Try again in 60 minutes.",
    );
    expect(refusalFor("rate_limited", "Slow down; try again in 1 second.", 1)!.message).toBe("Slow down. Try again in 1 second.");
  });

  it("adds no wait without Retry-After, nor to other codes", () => {
    expect(refusalFor("rate_limited", "Slow down.")!.message).toBe("Slow down.");
    expect(refusalFor("insufficient_credits", "Top up.", 120)!.message).toBe("Top up.");
  });

  it("fixes an unverified address with an action that sends a new link, not a link to follow", () => {
    const refusal = refusalFor("email_not_verified", "Verify your e-mail address to generate and upload.")!;
    expect(refusal.title).toBe("Verify your e-mail");
    expect(refusal.fix).toEqual({ label: "Resend the link", href: "/api/v1/auth/verify-email/resend", method: "POST" });
    expect(RESEND_VERIFICATION).toBe("/api/v1/auth/verify-email/resend");
  });

  it.each(CODES.filter((c) => c !== "email_not_verified"))("makes %s's fix a plain link", (code) => {
    expect(refusalFor(code, "d")!.fix?.method).toBeUndefined();
  });

  it("has no fix for a rate limit (waiting is the fix)", () => {
    expect(refusalFor("rate_limited", "d", 10)!.fix).toBeNull();
  });

  it.each(["unknown", "forbidden", "email_taken", "", "not_found"])("returns null for code %j", (code) => {
    expect(refusalFor(code, "detail", 60)).toBeNull();
  });

  // FIXES is an object literal: an inherited member ("constructor", "toString") is no refusal.
  it("does not treat Object.prototype keys as codes", () => {
    expect(refusalFor("toString", "detail")).toBeNull();
    expect(refusalFor("constructor", "detail")).toBeNull();
  });
});

describe("humanSeconds", () => {
  it("rounds up to seconds below 90 s and to minutes from there", () => {
    expect(humanSeconds(45)).toBe("45 seconds");
    expect(humanSeconds(89.2)).toBe("90 seconds");
    expect(humanSeconds(90)).toBe("2 minutes");
    expect(humanSeconds(3600)).toBe("60 minutes");
  });
});

describe("a suspended workspace's fix", () => {
  it("writes to the brand's support address, as the page gives it", () => {
    const facts = document.createElement("script");
    facts.id = "pingvas-brand";
    facts.type = "application/json";
    facts.textContent = JSON.stringify({ name: "Acme Studio", logo: "/l.svg", support_email: "help@acme.example" });
    document.head.appendChild(facts);
    try {
      expect(refusalFor("tenant_suspended", "Suspended")?.fix?.href).toBe("mailto:help@acme.example");
    } finally {
      facts.remove();
    }
    expect(refusalFor("tenant_suspended", "Suspended")?.fix?.href).toBe("mailto:support@pingvas.studio");
  });
});

describe("runAction", () => {
  const fetchMock = vi.fn<typeof fetch>();
  const json = (body: unknown, status: number, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });

  afterEach(() => {
    vi.unstubAllGlobals();
    fetchMock.mockReset();
    localStorage.clear();
  });

  it("POSTs the route as the signed-in user and gives the service's sentence", async () => {
    vi.stubGlobal("fetch", fetchMock);
    localStorage.setItem("auth_token", "tok-ada");
    fetchMock.mockResolvedValueOnce(json({ detail: "We sent a new link to ada@northwind.example" }, 202));
    expect(await runAction(RESEND_VERIFICATION)).toEqual({ ok: true, message: "We sent a new link to ada@northwind.example" });
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe(RESEND_VERIFICATION);
    expect(init?.method).toBe("POST");
    expect(init?.headers).toMatchObject({ Authorization: "Bearer tok-ada" });
  });

  it("says how long to wait when rate-limited", async () => {
    vi.stubGlobal("fetch", fetchMock);
    fetchMock.mockResolvedValueOnce(json({ detail: "Too many links sent.", code: "rate_limited" }, 429, { "Retry-After": "600" }));
    expect(await runAction(RESEND_VERIFICATION)).toEqual({ ok: false, message: "Too many links sent. Try again in 10 minutes." });
    fetchMock.mockResolvedValueOnce(
      json({ detail: "We sent several links already; try again in 3599 seconds", code: "rate_limited" }, 429, { "Retry-After": "3599" }),
    );
    expect(await runAction(RESEND_VERIFICATION)).toEqual({ ok: false, message: "We sent several links already. Try again in 60 minutes." });
  });

  it("gives any other refusal's detail", async () => {
    vi.stubGlobal("fetch", fetchMock);
    fetchMock.mockResolvedValueOnce(json({ detail: "Your address is already verified", code: "conflict" }, 409));
    expect(await runAction(RESEND_VERIFICATION)).toEqual({ ok: false, message: "Your address is already verified" });
  });

  it("says so when the studio cannot be reached", async () => {
    vi.stubGlobal("fetch", fetchMock);
    fetchMock.mockRejectedValueOnce(new TypeError("Failed to fetch"));
    expect(await runAction(RESEND_VERIFICATION)).toEqual({ ok: false, message: "The studio could not be reached; try again" });
  });
});
