import type { Meta, StoryObj } from "@storybook/react-vite";

import { billingHoldTenant, suspendedTenant, tenant, trialTenant } from "../fixtures";
import { PlanSummary } from "../components";

const meta = {
  title: "Account/PlanSummary",
  component: PlanSummary,
  args: { tenant },
} satisfies Meta<typeof PlanSummary>;

export default meta;
type Story = StoryObj<typeof meta>;

export const Active: Story = {};

export const Trial: Story = { args: { tenant: trialTenant } };

export const BillingHold: Story = { args: { tenant: billingHoldTenant } };

export const Suspended: Story = { args: { tenant: suspendedTenant } };
