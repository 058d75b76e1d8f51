import type { Meta, StoryObj } from "@storybook/react-vite";

import { InviteForm } from "../forms";

const meta = {
  title: "Auth/InviteForm",
  component: InviteForm,
  args: { token: "Zk3q9Vt2LmXc0RbN", productName: "Pingvas Studio" },
  parameters: { layout: "centered" },
} satisfies Meta<typeof InviteForm>;

export default meta;
type Story = StoryObj<typeof meta>;

export const WithToken: Story = {};

/** A link without a token: the form says so and cannot be submitted. */
export const MissingToken: Story = { args: { token: "" } };
