import type { Meta, StoryObj } from "@storybook/react-vite";
import { fn } from "storybook/test";

import { entries } from "../fixtures";
import { EntriesTable } from "../components";

const meta = {
  title: "Account/EntriesTable",
  component: EntriesTable,
  args: { entries, onReceipt: fn() },
} satisfies Meta<typeof EntriesTable>;

export default meta;
type Story = StoryObj<typeof meta>;

export const WithReceipts: Story = {};

/** Without `onReceipt` there are no Receipt buttons. */
export const ReadOnly: Story = { args: { onReceipt: undefined } };

export const Empty: Story = { args: { entries: [] } };
