import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { refusalFor } from "../shared/refusals";
import { refusalNotice } from "./refusalNotice";
import { json } from "../testing";

const fetchMock = vi.fn<typeof fetch>();
const UNVERIFIED = "Verify your e-mail address to generate and upload: open the link we sent to ada@northwind.example, or send a new one.";

beforeEach(() => {
  fetchMock.mockReset();
  vi.stubGlobal("fetch", fetchMock);
  localStorage.setItem("auth_token", "tok-ada");
});
afterEach(() => {
  vi.unstubAllGlobals();
  localStorage.clear();
  document.body.innerHTML = "";
});

function show(code: string, detail: string, onDismiss = vi.fn()): HTMLElement {
  const notice = refusalNotice(refusalFor(code, detail)!, onDismiss);
  document.body.append(notice);
  return notice;
}

describe("refusalNotice", () => {
  it("links to a fix that is a page", () => {
    const notice = show("insufficient_credits", "This generation needs 12 credits; the workspace has 4.");
    expect(notice).toHaveAttribute("role", "alert");
    expect(notice).toHaveTextContent("Out of credits");
    const link = notice.querySelector("a");
    expect(link).toHaveAttribute("href", "/account/plan");
    expect(link).toHaveTextContent("Get more credits");
  });

  it("sends a new verification link from a button, not a link, and says so in its place", async () => {
    fetchMock.mockResolvedValueOnce(json({ detail: "We sent a new link to ada@northwind.example" }, 202));
    const notice = show("email_not_verified", UNVERIFIED);
    expect(notice).toHaveTextContent("Verify your e-mail");
    expect(notice).toHaveTextContent(UNVERIFIED);
    expect(notice.querySelector("a")).toBeNull();
    const resend = [...notice.querySelectorAll("button")].find((b) => b.textContent === "Resend the link")!;
    resend.click();

    await vi.waitFor(() => expect(notice.querySelector("[role=status]")).toHaveTextContent("We sent a new link to ada@northwind.example"));
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/v1/auth/verify-email/resend");
    expect(init?.method).toBe("POST");
    expect(init?.headers).toMatchObject({ Authorization: "Bearer tok-ada" });
    expect(resend.isConnected).toBe(false);
  });

  it("keeps the button to try again after a rate limit, with the wait", async () => {
    fetchMock.mockResolvedValueOnce(json({ detail: "Too many links sent.", code: "rate_limited" }, 429, { "Retry-After": "300" }));
    const notice = show("email_not_verified", UNVERIFIED);
    const resend = [...notice.querySelectorAll("button")].find((b) => b.textContent === "Resend the link")!;
    resend.click();
    await vi.waitFor(() => expect(notice.querySelector("[role=status]")).toHaveTextContent("Too many links sent. Try again in 5 minutes."));
    expect(resend.isConnected).toBe(true);
    expect(resend.disabled).toBe(false);
  });

  it("is dismissed by its close button", () => {
    const onDismiss = vi.fn();
    const notice = show("rate_limited", "Slow down.", onDismiss);
    (notice.querySelector("button[aria-label=Dismiss]") as HTMLButtonElement).click();
    expect(notice.isConnected).toBe(false);
    expect(onDismiss).toHaveBeenCalledOnce();
  });
});
