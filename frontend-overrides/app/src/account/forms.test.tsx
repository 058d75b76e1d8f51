import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { InviteForm, SignupForm } from "./forms";

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

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
