import type { Meta, StoryObj } from "@storybook/react-vite";
import { fn } from "storybook/test";

import { admin, invitations, inviteLink, member, members, owner } from "../fixtures";
import { Members } from "../components";

const meta = {
  title: "Account/Members",
  component: Members,
  args: {
    members,
    invitations,
    myRole: "owner",
    myUserId: owner.user_id,
    inviteLink: null,
    onInvite: fn(),
    onRevokeInvitation: fn(),
    onRoleChange: fn(),
    onRemove: fn(),
  },
} satisfies Meta<typeof Members>;

export default meta;
type Story = StoryObj<typeof meta>;

export const AsOwner: Story = {};

export const AsOwnerAfterInviting: Story = { args: { inviteLink } };

/** An admin manages members and admins but cannot touch or grant the owner role. */
export const AsAdmin: Story = { args: { myRole: "admin", myUserId: admin.user_id } };

/** A plain member sees the list only: no role selects, no remove buttons, no invitations. */
export const AsMember: Story = { args: { myRole: "member", myUserId: member.user_id, invitations: [] } };
