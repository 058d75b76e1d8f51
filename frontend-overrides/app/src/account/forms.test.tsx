import { StrictMode } from "react";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { EmailChangeForm, ForgotPasswordForm, InviteForm, ResetPasswordForm, SignupForm, VerifyEmail } from "./forms";
import { json } from "../testing";

const signedIn = { token: "eyJhbGciOiJIUzI1NiJ9.new-user.sig", user_id: "u-ada", tenant_id: "7c1e4a52" };

const fetchMock = vi.fn<typeof fetch>();
const assign = vi.fn<(url: string | URL) => void>();
const locationDescriptor = Object.getOwnPropertyDescriptor(window, "location")!;

beforeEach(() => {
  fetchMock.mockReset();
  assign.mockReset();
  vi.stubGlobal("fetch", fetchMock);
  // jsdom's Location.assign is non-configurable (no vi.spyOn); window.location itself can be replaced.
  const real = window.location;
  Object.defineProperty(window, "location", {
    configurable: true,
    value: { href: real.href, origin: real.origin, pathname: "/signup", search: "", assign },
  });
});
afterEach(() => {
  vi.unstubAllGlobals();
  Object.defineProperty(window, "location", locationDescriptor);
  localStorage.clear();
});

/** The JSON body fetch was called with, and its URL and method. */
function sent(call = 0) {
  const [url, init] = fetchMock.mock.calls[call];
  return { url, method: init?.method, headers: init?.headers, body: JSON.parse(String(init?.body)) };
}

describe("SignupForm", () => {
  async function fillAndSubmit() {
    const user = userEvent.setup();
    render(<SignupForm productName="Pingvas Studio" />);
    await user.type(screen.getByLabelText("Workspace name"), "Northwind Studio");
    await user.type(screen.getByLabelText("Email"), "ada@northwind.example");
    await user.type(screen.getByLabelText("Password (8+ characters)"), "correct horse battery");
    await user.click(screen.getByRole("button", { name: "Create workspace" }));
    return user;
  }

  it("names the product", () => {
    render(<SignupForm productName="Pingvas Studio" />);
    expect(screen.getByRole("heading", { name: "Create your Pingvas Studio workspace" })).toBeInTheDocument();
  });

  it("signs up, stores the token and goes to the studio", async () => {
    fetchMock.mockResolvedValueOnce(json(signedIn, 201));
    await fillAndSubmit();

    await vi.waitFor(() => expect(assign).toHaveBeenCalledWith("/"));
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const request = sent();
    expect(request.url).toBe("/api/v1/signup");
    expect(request.method).toBe("POST");
    expect(request.headers).toMatchObject({ "Content-Type": "application/json" });
    expect(request.body).toEqual({ workspace_name: "Northwind Studio", email: "ada@northwind.example", password: "correct horse battery" });
    expect(localStorage.getItem("auth_token")).toBe(signedIn.token);
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("is busy while the request is in flight", async () => {
    let answer!: (response: Response) => void;
    fetchMock.mockReturnValueOnce(new Promise<Response>((resolve) => (answer = resolve)));
    await fillAndSubmit();
    expect(await screen.findByRole("button", { name: "Creating…" })).toBeDisabled();
    answer(json(signedIn, 201));
    await vi.waitFor(() => expect(assign).toHaveBeenCalledWith("/"));
  });

  it("shows the service's reason when the email is taken", async () => {
    fetchMock.mockResolvedValueOnce(json({ detail: "An account with this email already exists", code: "email_taken" }, 409));
    await fillAndSubmit();

    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("An account with this email already exists");
    expect(localStorage.getItem("auth_token")).toBeNull();
    expect(assign).not.toHaveBeenCalled();
    expect(screen.getByRole("button", { name: "Create workspace" })).toBeEnabled();
  });

  it("says when to try again after too many attempts", async () => {
    fetchMock.mockResolvedValueOnce(
      json({ detail: "Too many sign-ups from this address.", code: "rate_limited" }, 429, { "Retry-After": "120" }),
    );
    await fillAndSubmit();

    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Too many attempts");
    expect(alert).toHaveTextContent("Too many sign-ups from this address. Try again in 2 minutes.");
    expect(assign).not.toHaveBeenCalled();
  });

  it("joins validation errors", async () => {
    fetchMock.mockResolvedValueOnce(
      json({ detail: [{ loc: ["body", "email"], msg: "value is not a valid email address", type: "value_error" }] }, 422),
    );
    await fillAndSubmit();
    expect(await screen.findByRole("alert")).toHaveTextContent("value is not a valid email address");
  });

  it("says so when the studio cannot be reached", async () => {
    fetchMock.mockRejectedValueOnce(new TypeError("Failed to fetch"));
    await fillAndSubmit();
    expect(await screen.findByRole("alert")).toHaveTextContent("The studio could not be reached; try again");
    expect(assign).not.toHaveBeenCalled();
  });

  describe("when the address must be verified first (202, no token)", () => {
    const pending = {
      detail: "We sent a link to ada@northwind.example. Open it to verify your address and start your trial.",
      email: "ada@northwind.example",
    };
    const login = { token: "eyJhbGciOiJIUzI1NiJ9.logged-in.sig", user: { user_id: "u-ada" }, expires_in: 86400 };

    it("signs in with the same address and password and goes to the studio", async () => {
      fetchMock.mockResolvedValueOnce(json(pending, 202)).mockResolvedValueOnce(json(login));
      await fillAndSubmit();

      await vi.waitFor(() => expect(assign).toHaveBeenCalledWith("/"));
      expect(fetchMock).toHaveBeenCalledTimes(2);
      const signIn = sent(1);
      expect(signIn.url).toBe("/api/v1/auth/login");
      expect(signIn.method).toBe("POST");
      expect(signIn.body).toEqual({ email: "ada@northwind.example", password: "correct horse battery" });
      expect(localStorage.getItem("auth_token")).toBe(login.token);
    });

    it("says to check the e-mail when that sign-in fails (the address had an account)", async () => {
      fetchMock.mockResolvedValueOnce(json(pending, 202)).mockResolvedValueOnce(json({ detail: "Incorrect email or password" }, 401));
      await fillAndSubmit();

      expect(await screen.findByRole("heading", { name: "Check your e-mail" })).toBeInTheDocument();
      expect(screen.getByRole("status")).toHaveTextContent(pending.detail);
      expect(screen.queryByRole("alert")).toBeNull();
      expect(localStorage.getItem("auth_token")).toBeNull();
      expect(assign).not.toHaveBeenCalled();
    });

    it("says to check the e-mail when the studio cannot be reached for the sign-in", async () => {
      fetchMock.mockResolvedValueOnce(json(pending, 202)).mockRejectedValueOnce(new TypeError("Failed to fetch"));
      await fillAndSubmit();
      expect(await screen.findByRole("status")).toHaveTextContent(pending.detail);
      expect(assign).not.toHaveBeenCalled();
    });
  });

  it("clears the previous failure on a new attempt", async () => {
    fetchMock.mockResolvedValueOnce(json({ detail: "An account with this email already exists", code: "email_taken" }, 409));
    const user = await fillAndSubmit();
    await screen.findByRole("alert");
    fetchMock.mockResolvedValueOnce(json(signedIn, 201));
    await user.click(screen.getByRole("button", { name: "Create workspace" }));
    await vi.waitFor(() => expect(assign).toHaveBeenCalledWith("/"));
    expect(screen.queryByRole("alert")).toBeNull();
  });
});

describe("InviteForm", () => {
  it("accepts the invitation with the token, password and name", async () => {
    fetchMock.mockResolvedValueOnce(json(signedIn));
    const user = userEvent.setup();
    render(<InviteForm token="Zk3q9Vt2LmXc0RbN" productName="Pingvas Studio" />);
    expect(screen.getByRole("heading", { name: "Join a Pingvas Studio workspace" })).toBeInTheDocument();
    await user.type(screen.getByLabelText("Your name"), "Margaret Hamilton");
    await user.type(screen.getByLabelText("Choose a password"), "apollo-guidance");
    await user.click(screen.getByRole("button", { name: "Join workspace" }));

    await vi.waitFor(() => expect(assign).toHaveBeenCalledWith("/"));
    const request = sent();
    expect(request.url).toBe("/api/v1/invitations/accept");
    expect(request.method).toBe("POST");
    expect(request.body).toEqual({ token: "Zk3q9Vt2LmXc0RbN", password: "apollo-guidance", display_name: "Margaret Hamilton" });
    expect(localStorage.getItem("auth_token")).toBe(signedIn.token);
  });

  it("sends no display name when none was given", async () => {
    fetchMock.mockResolvedValueOnce(json(signedIn));
    const user = userEvent.setup();
    render(<InviteForm token="tok" productName="Pingvas Studio" />);
    await user.type(screen.getByLabelText("Choose a password"), "apollo-guidance");
    await user.click(screen.getByRole("button", { name: "Join workspace" }));
    await vi.waitFor(() => expect(fetchMock).toHaveBeenCalledTimes(1));
    expect(sent().body).toEqual({ token: "tok", password: "apollo-guidance", display_name: null });
  });

  it("shows an expired invitation's reason", async () => {
    fetchMock.mockResolvedValueOnce(json({ detail: "This invitation has expired", code: "invitation_expired" }, 410));
    const user = userEvent.setup();
    render(<InviteForm token="old" productName="Pingvas Studio" />);
    await user.type(screen.getByLabelText("Choose a password"), "apollo-guidance");
    await user.click(screen.getByRole("button", { name: "Join workspace" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("This invitation has expired");
    expect(assign).not.toHaveBeenCalled();
  });

  it("cannot be submitted without a token", () => {
    render(<InviteForm token="" productName="Pingvas Studio" />);
    expect(screen.getByRole("button", { name: "Join workspace" })).toBeDisabled();
    expect(screen.getByRole("alert")).toHaveTextContent("This link has no invitation in it; ask for a new one.");
  });
});

describe("ForgotPasswordForm", () => {
  const answer = "If an account uses this address, we sent it a link to choose a new password. The link works for 30 minutes.";

  it("asks for a link for the address, without a credential, and shows the answer", async () => {
    localStorage.setItem("auth_token", "stale-token");
    fetchMock.mockResolvedValueOnce(json({ detail: answer }, 202));
    const user = userEvent.setup();
    render(<ForgotPasswordForm />);
    await user.type(screen.getByLabelText("Email"), "ada@northwind.example");
    await user.click(screen.getByRole("button", { name: "Send me a link" }));

    expect(await screen.findByRole("status")).toHaveTextContent(answer);
    expect(screen.getByRole("heading", { name: "Check your e-mail" })).toBeInTheDocument();
    const request = sent();
    expect(request.url).toBe("/api/v1/auth/password-reset");
    expect(request.method).toBe("POST");
    expect(request.body).toEqual({ email: "ada@northwind.example" });
    expect(request.headers).not.toHaveProperty("Authorization");
    expect(assign).not.toHaveBeenCalled();
  });

  it("starts with the address typed on the sign-in page", () => {
    render(<ForgotPasswordForm initialEmail="ada@northwind.example" />);
    expect(screen.getByLabelText("Email")).toHaveValue("ada@northwind.example");
  });

  it("says when to try again after too many requests", async () => {
    fetchMock.mockResolvedValueOnce(json({ detail: "Too many password resets.", code: "rate_limited" }, 429, { "Retry-After": "1800" }));
    const user = userEvent.setup();
    render(<ForgotPasswordForm initialEmail="ada@northwind.example" />);
    await user.click(screen.getByRole("button", { name: "Send me a link" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Too many attempts");
    expect(alert).toHaveTextContent("Too many password resets. Try again in 30 minutes.");
    expect(screen.getByRole("button", { name: "Send me a link" })).toBeEnabled();
  });
});

describe("ResetPasswordForm", () => {
  async function choose(password: string, again = password) {
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("New password (8+ characters)"), password);
    await user.type(screen.getByLabelText("The same password again"), again);
    await user.click(screen.getByRole("button", { name: "Save and sign in" }));
  }

  it("sets the new password without a credential, stores the new session's token and goes to the studio", async () => {
    localStorage.setItem("auth_token", "old-session");
    fetchMock.mockResolvedValueOnce(json(signedIn));
    render(<ResetPasswordForm token="rS8vQe1WmZk4TnYb" />);
    await choose("a brand new secret");

    await vi.waitFor(() => expect(assign).toHaveBeenCalledWith("/"));
    const request = sent();
    expect(request.url).toBe("/api/v1/auth/password-reset/confirm");
    expect(request.method).toBe("POST");
    expect(request.body).toEqual({ token: "rS8vQe1WmZk4TnYb", password: "a brand new secret" });
    expect(request.headers).not.toHaveProperty("Authorization");
    expect(localStorage.getItem("auth_token")).toBe(signedIn.token);
  });

  it("sends nothing when the two passwords differ", async () => {
    render(<ResetPasswordForm token="tok" />);
    await choose("a brand new secret", "a brand new secreT");
    expect(await screen.findByRole("alert")).toHaveTextContent("The two passwords differ");
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("offers a new link when this one expired or was used (404)", async () => {
    fetchMock.mockResolvedValueOnce(json({ detail: "This link is invalid, already used or expired", code: "not_found" }, 404));
    render(<ResetPasswordForm token="used" />);
    await choose("a brand new secret");
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("This link has expired or was already used.");
    expect(screen.getByRole("link", { name: "Ask for a new link" })).toHaveAttribute("href", "/account/forgot");
    expect(localStorage.getItem("auth_token")).toBeNull();
    expect(assign).not.toHaveBeenCalled();
  });

  it("shows why a weak password was refused (422)", async () => {
    fetchMock.mockResolvedValueOnce(json({ detail: "This password is too common; choose another.", code: "invalid_input" }, 422));
    render(<ResetPasswordForm token="tok" />);
    await choose("password1");
    expect(await screen.findByRole("alert")).toHaveTextContent("This password is too common; choose another.");
    expect(screen.queryByRole("link", { name: "Ask for a new link" })).toBeNull();
    expect(screen.getByRole("button", { name: "Save and sign in" })).toBeEnabled();
  });

  it("cannot be submitted without a token, and offers a new link", () => {
    render(<ResetPasswordForm token="" />);
    expect(screen.getByRole("button", { name: "Save and sign in" })).toBeDisabled();
    expect(screen.getByRole("alert")).toHaveTextContent("This link has no reset token in it.");
    expect(screen.getByRole("link", { name: "Ask for a new link" })).toBeInTheDocument();
  });
});

describe("VerifyEmail", () => {
  const used = { detail: "This link is invalid, already used or expired", code: "not_found" };

  it("verifies once on load, even under strict mode, and leads to the studio", async () => {
    fetchMock.mockResolvedValue(json({ email: "ada@northwind.example", verified: true, trial_started: true }));
    render(
      <StrictMode>
        <VerifyEmail token="vE7pLq2XcN9sKd0R" />
      </StrictMode>,
    );
    expect(await screen.findByText("Your address is verified; your trial credits are in your workspace.")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Go to the studio" })).toHaveAttribute("href", "/");
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const request = sent();
    expect(request.url).toBe("/api/v1/auth/verify-email");
    expect(request.method).toBe("POST");
    expect(request.body).toEqual({ token: "vE7pLq2XcN9sKd0R" });
  });

  it("does not promise trial credits when the link started none (a changed address, an invited member)", async () => {
    fetchMock.mockResolvedValue(json({ email: "ada@northwind.example", verified: true, trial_started: false }));
    render(<VerifyEmail token="vE7pLq2XcN9sKd0R" />);
    expect(await screen.findByText("Your address is verified.")).toBeInTheDocument();
    expect(screen.queryByText(/trial credits/)).not.toBeInTheDocument();
  });

  it("says the link failed and, signed out, to sign in for a new one", async () => {
    fetchMock.mockResolvedValueOnce(json(used, 404));
    render(<VerifyEmail token="used" />);
    expect(await screen.findByRole("alert")).toHaveTextContent(used.detail);
    expect(screen.getByRole("link", { name: "Sign in" })).toHaveAttribute("href", "/login");
    expect(screen.queryByRole("button", { name: "Resend the link" })).toBeNull();
  });

  it("signed in, sends a new link from the failed page", async () => {
    localStorage.setItem("auth_token", "tok-ada");
    fetchMock.mockResolvedValueOnce(json(used, 404)).mockResolvedValueOnce(json({ detail: "We sent a new link to ada@northwind.example" }, 202));
    const user = userEvent.setup();
    render(<VerifyEmail token="used" />);
    await user.click(await screen.findByRole("button", { name: "Resend the link" }));

    expect(await screen.findByText("We sent a new link to ada@northwind.example")).toBeInTheDocument();
    const request = fetchMock.mock.calls[1];
    expect(request[0]).toBe("/api/v1/auth/verify-email/resend");
    expect(request[1]?.method).toBe("POST");
    expect(request[1]?.headers).toMatchObject({ Authorization: "Bearer tok-ada" });
    expect(screen.getByRole("button", { name: "Resend the link" })).toBeDisabled();
  });

  it("signed in, says how long to wait when new links are rate-limited", async () => {
    localStorage.setItem("auth_token", "tok-ada");
    fetchMock
      .mockResolvedValueOnce(json(used, 404))
      .mockResolvedValueOnce(json({ detail: "Too many links sent.", code: "rate_limited" }, 429, { "Retry-After": "45" }));
    const user = userEvent.setup();
    render(<VerifyEmail token="used" />);
    await user.click(await screen.findByRole("button", { name: "Resend the link" }));
    expect(await screen.findByText("Too many links sent. Try again in 45 seconds.")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Resend the link" })).toBeEnabled();
  });

  it("sends nothing for a link without a token", async () => {
    render(<VerifyEmail token="" />);
    expect(await screen.findByRole("alert")).toHaveTextContent("This link has no verification token in it.");
    expect(fetchMock).not.toHaveBeenCalled();
  });
});

describe("EmailChangeForm", () => {
  const sentLink = { detail: "We sent a link to ada@lovelace.example. Your address changes when you open it." };

  async function change(address = "ada@lovelace.example", password = "correct horse battery") {
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("New e-mail address"), address);
    await user.type(screen.getByLabelText("Current password"), password);
    await user.click(screen.getByRole("button", { name: "Change address" }));
    return user;
  }

  it("shows the current address and whether it is verified", () => {
    render(<EmailChangeForm email="ada@northwind.example" verified />);
    expect(screen.getByRole("region", { name: "Your e-mail address" })).toBeInTheDocument();
    expect(screen.getByTestId("current-email")).toHaveTextContent("ada@northwind.example");
    expect(screen.getByText("Yes")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Resend the link" })).toBeNull();
  });

  it("sends the new address with the current password as the signed-in user, shows the answer and clears the form", async () => {
    localStorage.setItem("auth_token", "tok-ada");
    fetchMock.mockResolvedValueOnce(json(sentLink, 202));
    render(<EmailChangeForm email="ada@northwind.example" verified />);
    await change();

    expect(await screen.findByRole("status")).toHaveTextContent(sentLink.detail);
    const request = sent();
    expect(request.url).toBe("/api/v1/account/email");
    expect(request.method).toBe("POST");
    expect(request.headers).toMatchObject({ Authorization: "Bearer tok-ada" });
    expect(request.body).toEqual({ email: "ada@lovelace.example", password: "correct horse battery" });
    expect(screen.getByLabelText("New e-mail address")).toHaveValue("");
    expect(screen.getByLabelText("Current password")).toHaveValue("");
    expect(screen.getByTestId("current-email")).toHaveTextContent("ada@northwind.example"); // until the link is opened
    expect(screen.queryByRole("alert")).toBeNull();
    expect(assign).not.toHaveBeenCalled();
  });

  it("is busy while the request is in flight", async () => {
    let answer!: (response: Response) => void;
    fetchMock.mockReturnValueOnce(new Promise<Response>((resolve) => (answer = resolve)));
    render(<EmailChangeForm email="ada@northwind.example" verified />);
    await change();
    expect(await screen.findByRole("button", { name: "Sending…" })).toBeDisabled();
    answer(json(sentLink, 202));
    expect(await screen.findByRole("button", { name: "Change address" })).toBeEnabled();
  });

  it("says the password is wrong and keeps what was typed (403)", async () => {
    fetchMock.mockResolvedValueOnce(json({ detail: "Your current password is not right", code: "forbidden" }, 403));
    render(<EmailChangeForm email="ada@northwind.example" verified />);
    await change("ada@lovelace.example", "not it");

    expect(await screen.findByRole("alert")).toHaveTextContent("Your current password is not right");
    expect(screen.queryByRole("status")).toBeNull();
    expect(screen.getByLabelText("New e-mail address")).toHaveValue("ada@lovelace.example");
    expect(screen.getByRole("button", { name: "Change address" })).toBeEnabled();
  });

  it("shows why the address was refused (422)", async () => {
    fetchMock.mockResolvedValueOnce(json({ detail: "That is your address already", code: "invalid_input" }, 422));
    render(<EmailChangeForm email="ada@northwind.example" verified />);
    await change("ada@northwind.example");
    expect(await screen.findByRole("alert")).toHaveTextContent("That is your address already");
  });

  it("says when to try again after too many links (429)", async () => {
    fetchMock.mockResolvedValueOnce(
      json({ detail: "We sent several links already; try again in 3600 seconds", code: "rate_limited" }, 429, { "Retry-After": "3600" }),
    );
    render(<EmailChangeForm email="ada@northwind.example" verified />);
    await change();

    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Too many attempts");
    expect(alert).toHaveTextContent("We sent several links already. Try again in 60 minutes.");
    expect(screen.getByRole("button", { name: "Change address" })).toBeEnabled();
  });

  it("replaces an earlier answer with the next attempt's failure", async () => {
    fetchMock
      .mockResolvedValueOnce(json(sentLink, 202))
      .mockResolvedValueOnce(json({ detail: "Your current password is not right", code: "forbidden" }, 403));
    render(<EmailChangeForm email="ada@northwind.example" verified />);
    await change();
    await screen.findByRole("status");
    await change("ada@babbage.example", "not it");
    expect(await screen.findByRole("alert")).toHaveTextContent("Your current password is not right");
    expect(screen.queryByRole("status")).toBeNull();
  });

  it("offers a new verification link while the address is not verified", async () => {
    localStorage.setItem("auth_token", "tok-ada");
    fetchMock.mockResolvedValueOnce(json({ detail: "We sent a new link to ada@northwind.example. It works for 24 hours." }, 202));
    render(<EmailChangeForm email="ada@northwind.example" verified={false} />);
    expect(screen.getByText("Not yet: open the link we sent to it")).toBeInTheDocument();
    await userEvent.setup().click(screen.getByRole("button", { name: "Resend the link" }));

    expect(await screen.findByText("We sent a new link to ada@northwind.example. It works for 24 hours.")).toBeInTheDocument();
    expect(fetchMock.mock.calls[0][0]).toBe("/api/v1/auth/verify-email/resend");
    expect(screen.getByRole("button", { name: "Resend the link" })).toBeDisabled();
  });
});
