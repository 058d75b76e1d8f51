import type { Meta, StoryObj } from "@storybook/react-vite";
import { fn } from "storybook/test";

import { apiKeys, createdApiKey } from "../fixtures";
import { ApiKeys } from "../components";

const meta = {
  title: "Account/ApiKeys",
  component: ApiKeys,
  args: { keys: apiKeys, created: null, myUserId: "u-ada", canManage: true, onCreate: fn(), onRevoke: fn() },
} satisfies Meta<typeof ApiKeys>;

export default meta;
type Story = StoryObj<typeof meta>;

/** The revoked "Old laptop" key in the fixtures is hidden. */
export const List: Story = {};

/** Right after creating a key its secret shows, once. */
export const JustCreated: Story = {
  args: { keys: [createdApiKey, ...apiKeys], created: createdApiKey },
};

export const Empty: Story = { args: { keys: [] } };

/** A plain member may revoke only the keys they created. */
export const AsMember: Story = { args: { myUserId: "u-grace", canManage: false } };
