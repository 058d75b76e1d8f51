import type { Meta, StoryObj } from "@storybook/react-vite";

import { days } from "../fixtures";
import { DailyTable } from "../components";

const meta = {
  title: "Account/DailyTable",
  component: DailyTable,
  args: { days },
} satisfies Meta<typeof DailyTable>;

export default meta;
type Story = StoryObj<typeof meta>;

export const ThirtyDays: Story = {};

export const Empty: Story = { args: { days: [] } };
