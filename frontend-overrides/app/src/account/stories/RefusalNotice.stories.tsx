import type { Meta, StoryObj } from "@storybook/react-vite";

import { outOfCredits, rateLimited, suspended } from "../fixtures";
import { RefusalNotice } from "../components";

const meta = {
  title: "Account/RefusalNotice",
  component: RefusalNotice,
  args: { refusal: outOfCredits },
} satisfies Meta<typeof RefusalNotice>;

export default meta;
type Story = StoryObj<typeof meta>;

export const OutOfCredits: Story = {};

export const RateLimited: Story = { args: { refusal: rateLimited } };

export const Suspended: Story = { args: { refusal: suspended } };
