import type { Meta, StoryObj } from "@storybook/react-vite";
import { fn } from "storybook/test";

import { receipt } from "../fixtures";
import { ReceiptView } from "../components";

const meta = {
  title: "Account/ReceiptView",
  component: ReceiptView,
  args: { receipt, onClose: fn() },
} satisfies Meta<typeof ReceiptView>;

export default meta;
type Story = StoryObj<typeof meta>;

export const RefundedRetry: Story = {};

export const WithoutClose: Story = { args: { onClose: undefined } };
