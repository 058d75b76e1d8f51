import type { Meta, StoryObj } from "@storybook/react-vite";
import { expect, userEvent, within } from "storybook/test";

import { ForgotPasswordForm } from "../forms";

const meta = {
  title: "Auth/ForgotPasswordForm",
  component: ForgotPasswordForm,
  args: { initialEmail: "" },
  parameters: { layout: "centered" },
} satisfies Meta<typeof ForgotPasswordForm>;

export default meta;
type Story = StoryObj<typeof meta>;

export const Empty: Story = {};

/** Opened from the sign-in page with the address already typed there. */
export const Prefilled: Story = { args: { initialEmail: "ada@northwind.example" } };

const SENT = "If an account uses this address, we sent it a link to choose a new password. The link works for 30 minutes.";

/** Sent: the answer is the same whether or not the address has an account. */
export const Sent: Story = {
  args: { initialEmail: "ada@northwind.example" },
  beforeEach: () => {
    const native = window.fetch;
    window.fetch = async () => new Response(JSON.stringify({ detail: SENT }), { status: 202, headers: { "Content-Type": "application/json" } });
    return () => {
      window.fetch = native;
    };
  },
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await userEvent.click(canvas.getByRole("button", { name: "Send me a link" }));
    await expect(await canvas.findByRole("status")).toHaveTextContent(SENT);
  },
};
