import type { Meta, StoryObj } from "@storybook/react-vite";

import { Card } from "../components";

const meta = {
  title: "Account/Card",
  component: Card,
  args: {
    title: "Plan and credits",
    children: <p>Everything the workspace pays for and how much of it is left.</p>,
  },
} satisfies Meta<typeof Card>;

export default meta;
type Story = StoryObj<typeof meta>;

export const Plain: Story = {};

export const WithActions: Story = {
  args: {
    title: "Plans",
    actions: <button type="button">Billing portal</button>,
  },
};
