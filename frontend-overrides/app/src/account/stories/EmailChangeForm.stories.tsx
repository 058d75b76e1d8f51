import type { Meta, StoryObj } from "@storybook/react-vite";
import { expect, userEvent, within } from "storybook/test";

import { EmailChangeForm } from "../forms";

const meta = {
  title: "Account/EmailChangeForm",
  component: EmailChangeForm,
  args: { email: "ada@northwind.example", verified: true },
} satisfies Meta<typeof EmailChangeForm>;

export default meta;
type Story = StoryObj<typeof meta>;

/** The form's answer to POST /api/v1/account/email, for this story only. */
function answering(status: number, body: unknown, headers: Record<string, string> = {}) {
  return () => {
    const native = window.fetch;
    window.fetch = async () => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
    return () => {
      window.fetch = native;
    };
  };
}

async function submit(canvasElement: HTMLElement, password = "correct horse battery") {
  const canvas = within(canvasElement);
  await userEvent.type(canvas.getByLabelText("New e-mail address"), "ada@lovelace.example");
  await userEvent.type(canvas.getByLabelText("Current password"), password);
  await userEvent.click(canvas.getByRole("button", { name: "Change address" }));
  return canvas;
}

export const Verified: Story = {};

/** Not verified yet: a new link is one click away. */
export const NotVerified: Story = { args: { verified: false } };

const SENT = "We sent a link to ada@lovelace.example. Your address changes when you open it.";

/** 202: the answer shows and the form is cleared; the address changes when the link is opened. */
export const LinkSent: Story = {
  beforeEach: answering(202, { detail: SENT }),
  play: async ({ canvasElement }) => {
    const canvas = await submit(canvasElement);
    await expect(await canvas.findByRole("status")).toHaveTextContent(SENT);
    await expect(canvas.getByLabelText("New e-mail address")).toHaveValue("");
  },
};

/** 403: the current password is not right. */
export const WrongPassword: Story = {
  beforeEach: answering(403, { detail: "Your current password is not right", code: "forbidden" }),
  play: async ({ canvasElement }) => {
    const canvas = await submit(canvasElement, "not it");
    await expect(await canvas.findByRole("alert")).toHaveTextContent("Your current password is not right");
  },
};

/** 429: too many links; the wait from Retry-After, in words. */
export const RateLimited: Story = {
  beforeEach: answering(429, { detail: "We sent several links already; try again in 1200 seconds", code: "rate_limited" }, { "Retry-After": "1200" }),
  play: async ({ canvasElement }) => {
    const canvas = await submit(canvasElement);
    await expect(await canvas.findByRole("alert")).toHaveTextContent("Try again in 20 minutes.");
  },
};
