import type { Meta, StoryObj } from "@storybook/react-vite";

import { StorageMeter } from "../components";

const GB = 1024 ** 3;

const meta = {
  title: "Account/StorageMeter",
  component: StorageMeter,
  args: { used: 0, limit: 10 * GB },
} satisfies Meta<typeof StorageMeter>;

export default meta;
type Story = StoryObj<typeof meta>;

export const Empty: Story = {};

export const Half: Story = { args: { used: 5 * GB } };

/** At 90 % and above the meter turns to its warning colour (`meter-full`). */
export const Full: Story = { args: { used: Math.round(9.4 * GB) } };

export const NoQuota: Story = { args: { used: Math.round(132.7 * GB), limit: null } };
