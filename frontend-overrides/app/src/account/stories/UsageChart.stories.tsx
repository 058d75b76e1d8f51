import type { Meta, StoryObj } from "@storybook/react-vite";

import { days } from "../fixtures";
import { UsageChart } from "../components";

const meta = {
  title: "Account/UsageChart",
  component: UsageChart,
  args: { days },
} satisfies Meta<typeof UsageChart>;

export default meta;
type Story = StoryObj<typeof meta>;

export const ThirtyDays: Story = {};

export const LastWeek: Story = { args: { days: days.slice(-7) } };

export const Empty: Story = { args: { days: [] } };
