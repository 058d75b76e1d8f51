import type { Meta, StoryObj } from "@storybook/react-vite";
import { expect, fn, userEvent, within } from "storybook/test";

import { emailNotVerified, outOfCredits, rateLimited, suspended } from "../fixtures";
import { RefusalNotice } from "../components";

const meta = {
  title: "Account/RefusalNotice",
  component: RefusalNotice,
  args: { refusal: outOfCredits, onAction: fn(async () => ({ ok: true, message: "We sent a new link to ada@northwind.example" })) },
} satisfies Meta<typeof RefusalNotice>;

export default meta;
type Story = StoryObj<typeof meta>;

export const OutOfCredits: Story = {};

export const RateLimited: Story = { args: { refusal: rateLimited } };

export const Suspended: Story = { args: { refusal: suspended } };

/** The fix is an action: the button sends a new verification link and the notice says so. */
export const EmailNotVerified: Story = {
  args: { refusal: emailNotVerified },
  play: async ({ canvasElement, args }) => {
    const canvas = within(canvasElement);
    await userEvent.click(canvas.getByRole("button", { name: "Resend the link" }));
    await expect(await canvas.findByRole("status")).toHaveTextContent("We sent a new link to ada@northwind.example");
    await expect(args.onAction).toHaveBeenCalledWith(emailNotVerified.fix);
    await expect(canvas.queryByRole("button", { name: "Resend the link" })).toBeNull();
  },
};
