// The app's routes: the pages an e-mail's link opens are served signed out, and the e-mail page
// shows the user's address and loads and saves their notice choices.

import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { App } from "./App";
import { notices, tenant } from "./fixtures";
import { json } from "../testing";

const fetchMock = vi.fn<typeof fetch>();
const replace = vi.fn<(url: string | URL) => void>();
const locationDescriptor = Object.getOwnPropertyDescriptor(window, "location")!;

function at(pathname: string, search = ""): void {
  Object.defineProperty(window, "location", {
    configurable: true,
    value: { href: `http://studio.test${pathname}${search}`, origin: "http://studio.test", pathname, search, replace, assign: vi.fn() },
  });
}

beforeEach(() => {
  fetchMock.mockReset();
  replace.mockReset();
  vi.stubGlobal("fetch", fetchMock);
});
afterEach(() => {
  vi.unstubAllGlobals();
  Object.defineProperty(window, "location", locationDescriptor);
  localStorage.clear();
});

describe("the pages a link in an e-mail opens", () => {
  it.each([
    ["/account/forgot", "", "Forgot your password?"],
    ["/account/reset", "?token=rS8v", "Choose a new password"],
    ["/account/verify", "?token=vE7p", "Verify your e-mail"],
  ])("serves %s signed out", async (path, search, heading) => {
    fetchMock.mockResolvedValue(json({ detail: "This link is invalid, already used or expired", code: "not_found" }, 404));
    at(path, search);
    render(<App />);
    expect(await screen.findByRole("heading", { name: heading })).toBeInTheDocument();
    expect(replace).not.toHaveBeenCalled();
  });

  it("gives the reset page the link's token", async () => {
    at("/account/reset", "?token=rS8vQe1W");
    fetchMock.mockResolvedValueOnce(json({ token: "new", user_id: "u", tenant_id: "t" }));
    render(<App />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("New password (8+ characters)"), "a brand new secret");
    await user.type(screen.getByLabelText("The same password again"), "a brand new secret");
    await user.click(screen.getByRole("button", { name: "Save and sign in" }));
    await vi.waitFor(() => expect(fetchMock).toHaveBeenCalledTimes(1));
    expect(JSON.parse(String(fetchMock.mock.calls[0][1]?.body))).toEqual({ token: "rS8vQe1W", password: "a brand new secret" });
  });

  it("fills the forgotten-password form with the address from the sign-in page", () => {
    at("/account/forgot", "?email=ada%40northwind.example");
    render(<App />);
    expect(screen.getByLabelText("Email")).toHaveValue("ada@northwind.example");
  });
});

describe("the e-mail page (/account/notices)", () => {
  const account = { user_id: "u-ada", email: "ada@northwind.example", email_verified: true, notices };

  function answer(patched: typeof notices | Response = notices) {
    fetchMock.mockImplementation(async (input, init) => {
      const url = String(input);
      if (url === "/api/v1/account/notices" && init?.method === "PATCH") return patched instanceof Response ? patched : json(patched);
      if (url === "/api/v1/account") return json(account);
      if (url === "/api/v1/tenant") return json(tenant);
      if (url === "/api/v1/auth/me") return json({ user_id: "u-ada", email: account.email, display_name: null });
      if (url === "/api/v1/tenant/members") return json([]);
      return json({ detail: "no such route" }, 404);
    });
  }

  it("is linked from the account's navigation and shows the saved choices", async () => {
    localStorage.setItem("auth_token", "tok-ada");
    answer();
    at("/account/notices");
    render(<App />);
    expect(screen.getByRole("link", { name: "E-mail" })).toHaveAttribute("aria-current", "page");
    expect(await screen.findByRole("switch", { name: "Subscription renewed, changed or ending" })).not.toBeChecked();
    expect(screen.getByRole("switch", { name: "Credits running low" })).toBeChecked();
  });

  it("shows the address from the account, whether it is verified, and the form to change it", async () => {
    localStorage.setItem("auth_token", "tok-ada");
    answer();
    at("/account/notices");
    render(<App />);
    const card = await screen.findByRole("region", { name: "Your e-mail address" });
    expect(within(card).getByTestId("current-email")).toHaveTextContent(account.email);
    expect(within(card).getByText("Yes")).toBeInTheDocument();
    expect(within(card).getByLabelText("New e-mail address")).toBeInTheDocument();
    expect(within(card).getByLabelText("Current password")).toBeInTheDocument();
  });

  it("saves a switched notice alone and shows the service's answer", async () => {
    localStorage.setItem("auth_token", "tok-ada");
    answer({ ...notices, subscription: true });
    at("/account/notices");
    render(<App />);
    await userEvent.setup().click(await screen.findByRole("switch", { name: "Subscription renewed, changed or ending" }));

    expect(await screen.findByText("Saved.")).toBeInTheDocument();
    expect(screen.getByRole("switch", { name: "Subscription renewed, changed or ending" })).toBeChecked();
    const patch = fetchMock.mock.calls.find(([, init]) => init?.method === "PATCH")!;
    expect(patch[0]).toBe("/api/v1/account/notices");
    expect(JSON.parse(String(patch[1]?.body))).toEqual({ subscription: true });
  });

  it("keeps the previous choice and says why when saving fails", async () => {
    localStorage.setItem("auth_token", "tok-ada");
    answer(json({ detail: "Try again later", code: "unavailable" }, 503));
    at("/account/notices");
    render(<App />);
    await userEvent.setup().click(await screen.findByRole("switch", { name: "Subscription renewed, changed or ending" }));

    expect(await screen.findByRole("alert")).toHaveTextContent("Try again later");
    expect(screen.getByRole("switch", { name: "Subscription renewed, changed or ending" })).not.toBeChecked();
    expect(screen.queryByText("Saved.")).toBeNull();
  });

  it("sends a visitor who is signed out to sign in", () => {
    at("/account/notices");
    render(<App />);
    expect(replace).toHaveBeenCalledWith("/login");
  });
});
