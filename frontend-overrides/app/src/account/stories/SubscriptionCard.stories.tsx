import type { Meta, StoryObj } from "@storybook/react-vite";
import { expect, fn, userEvent, within } from "storybook/test";

import { cancelledSubscription, subscription } from "../fixtures";
import { SubscriptionCard } from "../components";

const meta = {
  title: "Account/SubscriptionCard",
  component: SubscriptionCard,
  args: { subscription, canManage: true, onCancel: fn(), onResume: fn() },
} satisfies Meta<typeof SubscriptionCard>;

export default meta;
type Story = StoryObj<typeof meta>;

export const Active: Story = {};

/** Cancelling asks first and says until when the plan stays. */
export const ConfirmingCancel: Story = {
  play: async ({ canvasElement, args }) => {
    const canvas = within(canvasElement);
    await userEvent.click(canvas.getByRole("button", { name: "Cancel subscription" }));
    await expect(canvas.getByRole("alertdialog")).toBeInTheDocument();
    await expect(args.onCancel).not.toHaveBeenCalled();
  },
};

export const Cancelled: Story = { args: { subscription: cancelledSubscription } };

export const AsMember: Story = { args: { canManage: false } };
