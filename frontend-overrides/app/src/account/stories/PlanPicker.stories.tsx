import type { Meta, StoryObj } from "@storybook/react-vite";
import { fn } from "storybook/test";

import { plans } from "../fixtures";
import { PlanPicker } from "../components";

const meta = {
  title: "Account/PlanPicker",
  component: PlanPicker,
  args: { plans, current: "starter", subscribed: true, canManage: true, onChoose: fn(), onPortal: fn() },
} satisfies Meta<typeof PlanPicker>;

export default meta;
type Story = StoryObj<typeof meta>;

export const AsOwner: Story = {};

/** A plain member sees the plans but no switch buttons and no billing portal. */
export const AsMember: Story = { args: { canManage: false } };

/** No subscription yet (a trial): every priced plan, Starter included, is bought through a checkout. */
export const OnTrial: Story = { args: { subscribed: false } };

/** Billed yearly: the period switch starts on Yearly, where the current plan is marked. */
export const SubscribedYearly: Story = { args: { current: "pro", currentInterval: "year" } };

/** No payment provider configured (the embedded default): nothing to buy. */
export const NotOnSale: Story = { args: { subscribed: false, plans: plans.map((p) => ({ ...p, intervals: [] })) } };
