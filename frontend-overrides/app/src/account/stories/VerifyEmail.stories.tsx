import type { Meta, StoryObj } from "@storybook/react-vite";
import { expect, within } from "storybook/test";

import { VerifyEmail } from "../forms";

const meta = {
  title: "Auth/VerifyEmail",
  component: VerifyEmail,
  args: { token: "vE7pLq2XcN9sKd0R" },
  parameters: { layout: "centered" },
} satisfies Meta<typeof VerifyEmail>;

export default meta;
type Story = StoryObj<typeof meta>;

/** The page's answer to POST /api/v1/auth/verify-email, for this story only; signed in or not. */
function answering(status: number, body: unknown, signedIn: boolean) {
  return () => {
    const native = window.fetch;
    window.fetch = async () => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
    if (signedIn) localStorage.setItem("auth_token", "story-token");
    return () => {
      window.fetch = native;
      localStorage.removeItem("auth_token");
    };
  };
}

export const Verified: Story = {
  beforeEach: answering(200, { email: "ada@northwind.example", verified: true, trial_started: true }, false),
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await expect(await canvas.findByText(/Your address is verified/)).toBeInTheDocument();
    await expect(canvas.getByRole("link", { name: "Go to the studio" })).toHaveAttribute("href", "/");
  },
};

const USED = { detail: "This link is invalid, already used or expired", code: "not_found" };

/** A used or expired link, signed in: a new link is one click away. */
export const ExpiredSignedIn: Story = {
  beforeEach: answering(404, USED, true),
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await expect(await canvas.findByRole("alert")).toHaveTextContent(USED.detail);
    await expect(canvas.getByRole("button", { name: "Resend the link" })).toBeEnabled();
  },
};

/** A used or expired link, signed out: sign in first to have a new one sent. */
export const ExpiredSignedOut: Story = {
  beforeEach: answering(404, USED, false),
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await expect(await canvas.findByRole("alert")).toHaveTextContent(USED.detail);
    await expect(canvas.getByRole("link", { name: "Sign in" })).toHaveAttribute("href", "/login");
  },
};
