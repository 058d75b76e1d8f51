import type { Meta, StoryObj } from "@storybook/react-vite";
import { expect, fn, userEvent, within } from "storybook/test";

import { NoticePrefs } from "../components";
import { notices } from "../fixtures";

const meta = {
  title: "Account/NoticePrefs",
  component: NoticePrefs,
  args: { email: "ada@northwind.example", notices, saving: false, onChange: fn() },
} satisfies Meta<typeof NoticePrefs>;

export default meta;
type Story = StoryObj<typeof meta>;

export const Some: Story = {
  play: async ({ canvasElement, args }) => {
    const canvas = within(canvasElement);
    await userEvent.click(canvas.getByRole("switch", { name: "Subscription renewed, changed or ending" }));
    await expect(args.onChange).toHaveBeenCalledWith("subscription", true);
  },
};

export const AllOff: Story = { args: { notices: { low_credits: false, payment_failed: false, subscription: false, suspension: false } } };

/** A change on its way: the switches wait for it. */
export const Saving: Story = { args: { saving: true } };
