import type { Meta, StoryObj } from "@storybook/react-vite";
import { expect, userEvent, within } from "storybook/test";

import { ResetPasswordForm } from "../forms";

const meta = {
  title: "Auth/ResetPasswordForm",
  component: ResetPasswordForm,
  args: { token: "rS8vQe1WmZk4TnYb" },
  parameters: { layout: "centered" },
} satisfies Meta<typeof ResetPasswordForm>;

export default meta;
type Story = StoryObj<typeof meta>;

export const WithToken: Story = {};

/** A link without a token: the form says so and offers to ask for a new one. */
export const MissingToken: Story = { args: { token: "" } };

/** The link expired or was used (404): the page offers to ask for a new one. */
export const Expired: Story = {
  beforeEach: () => {
    const native = window.fetch;
    window.fetch = async () =>
      new Response(JSON.stringify({ detail: "This link is invalid, already used or expired", code: "not_found" }), {
        status: 404,
        headers: { "Content-Type": "application/json" },
      });
    return () => {
      window.fetch = native;
    };
  },
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await userEvent.type(canvas.getByLabelText(/New password/), "a brand new secret");
    await userEvent.type(canvas.getByLabelText("The same password again"), "a brand new secret");
    await userEvent.click(canvas.getByRole("button", { name: "Save and sign in" }));
    await expect(await canvas.findByRole("alert")).toHaveTextContent("This link has expired or was already used.");
    await expect(canvas.getByRole("link", { name: "Ask for a new link" })).toHaveAttribute("href", "/account/forgot");
  },
};
