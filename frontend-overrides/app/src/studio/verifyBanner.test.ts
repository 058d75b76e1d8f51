import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { BANNER_ID, renderVerifyBanner } from "./verifyBanner";
import { json } from "../testing";

const fetchMock = vi.fn<typeof fetch>();
const banner = () => document.getElementById(BANNER_ID);
const resendButton = () => [...(banner()?.querySelectorAll("button") ?? [])].find((b) => b.textContent === "Resend the link");

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

describe("renderVerifyBanner", () => {
  it("asks to open the link sent to the address, once however often it is rendered", () => {
    renderVerifyBanner("ada@northwind.example");
    renderVerifyBanner("ada@northwind.example");
    expect(document.querySelectorAll(`#${BANNER_ID}`)).toHaveLength(1);
    expect(banner()).toHaveAttribute("aria-label", "Verify your e-mail");
    expect(banner()).toHaveTextContent("Open the link we sent to ada@northwind.example");
    expect(resendButton()).toBeDefined();
  });

  it("is removed once the address is verified (or the user signs out)", () => {
    renderVerifyBanner("ada@northwind.example");
    renderVerifyBanner(null);
    expect(banner()).toBeNull();
  });

  it("follows a change of user", () => {
    renderVerifyBanner("ada@northwind.example");
    renderVerifyBanner("grace@northwind.example");
    expect(document.querySelectorAll(`#${BANNER_ID}`)).toHaveLength(1);
    expect(banner()).toHaveTextContent("grace@northwind.example");
  });

  it("sends a new link and shows the service's answer", async () => {
    fetchMock.mockResolvedValueOnce(json({ detail: "We sent a new link to ada@northwind.example" }, 202));
    renderVerifyBanner("ada@northwind.example");
    resendButton()!.click();
    await vi.waitFor(() => expect(banner()!.querySelector("[role=status]")).toHaveTextContent("We sent a new link to ada@northwind.example"));
    expect(fetchMock.mock.calls[0][0]).toBe("/api/v1/auth/verify-email/resend");
    expect(fetchMock.mock.calls[0][1]?.method).toBe("POST");
  });

  it("says how long to wait when rate-limited (Retry-After)", async () => {
    fetchMock.mockResolvedValueOnce(json({ detail: "Too many links sent.", code: "rate_limited" }, 429, { "Retry-After": "1" }));
    renderVerifyBanner("ada@northwind.example");
    resendButton()!.click();
    await vi.waitFor(() => expect(banner()!.querySelector("[role=status]")).toHaveTextContent("Too many links sent. Try again in 1 second."));
    expect(resendButton()).toBeDefined();
  });
});
