import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { ApiError, TOKEN_KEY, api, errorOf, signIn, token } from "./api";
import { json } from "../testing";

describe("errorOf", () => {
  it("reads the service's detail and code", async () => {
    const error = await errorOf(json({ detail: "This generation needs 12 credits; the workspace has 4.", code: "insufficient_credits" }, 402));
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toBeInstanceOf(Error);
    expect(error.status).toBe(402);
    expect(error.code).toBe("insufficient_credits");
    expect(error.detail).toBe("This generation needs 12 credits; the workspace has 4.");
    expect(error.message).toBe(error.detail);
    expect(error.retryAfter).toBeNull();
  });

  it("reads Retry-After in seconds", async () => {
    const error = await errorOf(json({ detail: "Too many sign-ups", code: "rate_limited" }, 429, { "Retry-After": "120" }));
    expect(error.code).toBe("rate_limited");
    expect(error.retryAfter).toBe(120);
  });

  it.each(["0", "-5", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"])("ignores a Retry-After of %j", async (value) => {
    const error = await errorOf(json({ detail: "x", code: "rate_limited" }, 429, { "Retry-After": value }));
    expect(error.retryAfter).toBeNull();
  });

  it("joins a pydantic 422 detail array", async () => {
    const body = {
      detail: [
        { type: "string_too_short", loc: ["body", "password"], msg: "String should have at least 8 characters", input: "abc" },
        { type: "value_error", loc: ["body", "email"], msg: "value is not a valid email address", input: "ada" },
      ],
    };
    const error = await errorOf(json(body, 422));
    expect(error.status).toBe(422);
    expect(error.detail).toBe("String should have at least 8 characters; value is not a valid email address");
    expect(error.code).toBe("unknown");
  });

  it("falls back to the status when the body is not JSON", async () => {
    const error = await errorOf(new Response("<html>Bad gateway</html>", { status: 502, headers: { "Content-Type": "text/html" } }));
    expect(error.status).toBe(502);
    expect(error.code).toBe("unknown");
    expect(error.detail).toBe("Request failed (502)");
  });

  it("falls back to the status when detail is missing or not a string", async () => {
    expect((await errorOf(json({ code: "forbidden" }, 403))).detail).toBe("Request failed (403)");
    expect((await errorOf(json({ detail: { nested: true } }, 400))).detail).toBe("Request failed (400)");
    expect((await errorOf(json({ code: "forbidden" }, 403))).code).toBe("forbidden");
  });
});

describe("token and signIn", () => {
  afterEach(() => localStorage.clear());

  it("keeps the token where InvokeAI's UI keeps it", () => {
    expect(token()).toBeNull();
    signIn("tok-123");
    expect(localStorage.getItem("auth_token")).toBe("tok-123");
    expect(TOKEN_KEY).toBe("auth_token");
    expect(token()).toBe("tok-123");
  });
});

describe("api", () => {
  const fetchMock = vi.fn<typeof fetch>();

  beforeEach(() => {
    fetchMock.mockReset();
    vi.stubGlobal("fetch", fetchMock);
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    localStorage.clear();
  });

  it("sends the bearer token from localStorage and returns the JSON body", async () => {
    localStorage.setItem("auth_token", "eyJhbGciOi.test.token");
    fetchMock.mockResolvedValueOnce(json({ id: "t1", credits: 42 }));
    const tenant = await api<{ id: string; credits: number }>("/api/v1/tenant");
    expect(tenant).toEqual({ id: "t1", credits: 42 });
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/v1/tenant");
    expect(init?.method).toBe("GET");
    expect(init?.body).toBeUndefined();
    expect(init?.headers).toEqual({ Authorization: "Bearer eyJhbGciOi.test.token" });
  });

  it("sends no credential on an anonymous call, even when signed in", async () => {
    localStorage.setItem("auth_token", "eyJhbGciOi.stale.token");
    fetchMock.mockResolvedValueOnce(json({ email: "ada@northwind.example", verified: true, trial_started: true }));
    await api("/api/v1/auth/verify-email", { method: "POST", body: { token: "link" }, anonymous: true });
    expect(fetchMock.mock.calls[0][1]?.headers).toEqual({ "Content-Type": "application/json" });
  });

  it("sends no Authorization header when signed out", async () => {
    fetchMock.mockResolvedValueOnce(json([]));
    await api("/api/v1/billing/plans");
    const headers = fetchMock.mock.calls[0][1]?.headers as Record<string, string>;
    expect(headers).not.toHaveProperty("Authorization");
  });

  it("sends a JSON body with its content type and the method", async () => {
    localStorage.setItem("auth_token", "tok");
    fetchMock.mockResolvedValueOnce(json({ ok: true }, 201));
    await api("/api/v1/tenant/api-keys", { method: "POST", body: { name: "CI renders" } });
    const init = fetchMock.mock.calls[0][1]!;
    expect(init.method).toBe("POST");
    expect(init.body).toBe('{"name":"CI renders"}');
    expect(init.headers).toEqual({ Authorization: "Bearer tok", "Content-Type": "application/json" });
  });

  it("throws ApiError with the service's refusal on a non-2xx answer", async () => {
    fetchMock.mockResolvedValueOnce(json({ detail: "Only owners can do that", code: "forbidden" }, 403));
    const failure = await api("/api/v1/tenant/members/u1", { method: "DELETE" }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApiError);
    expect(failure).toMatchObject({ status: 403, code: "forbidden", detail: "Only owners can do that", retryAfter: null });
  });

  it("carries Retry-After on a rate limit", async () => {
    fetchMock.mockResolvedValueOnce(json({ detail: "Slow down", code: "rate_limited" }, 429, { "Retry-After": "30" }));
    await expect(api("/api/v1/signup", { method: "POST", body: {} })).rejects.toMatchObject({ status: 429, retryAfter: 30 });
  });

  it("lets a network failure through as it is", async () => {
    fetchMock.mockRejectedValueOnce(new TypeError("Failed to fetch"));
    await expect(api("/api/v1/tenant")).rejects.toThrow(TypeError);
  });
});
