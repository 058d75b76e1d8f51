import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import {
  ApiKeys,
  DailyTable,
  EntriesTable,
  Members,
  NoticePrefs,
  PlanPicker,
  PlanSummary,
  RefusalNotice,
  StorageMeter,
  SubscriptionCard,
  UsageChart,
} from "./components";
import {
  admin,
  apiKeys,
  billingHoldTenant,
  cancelledSubscription,
  createdApiKey,
  days,
  emailNotVerified,
  entries,
  invitations,
  member,
  members,
  notices,
  outOfCredits,
  owner,
  plans,
  subscription,
  suspendedTenant,
  tenant,
  trialTenant,
} from "./fixtures";
import type { Role } from "../shared/api";

describe("ApiKeys", () => {
  const setup = (created: typeof createdApiKey | null = null, keys = apiKeys, myUserId = owner.user_id, canManage = true) => {
    const onCreate = vi.fn();
    const onRevoke = vi.fn();
    render(<ApiKeys keys={keys} created={created} myUserId={myUserId} canManage={canManage} onCreate={onCreate} onRevoke={onRevoke} />);
    return { onCreate, onRevoke, user: userEvent.setup() };
  };

  it("offers an owner or admin every live key to revoke", () => {
    setup(null, apiKeys, admin.user_id, true);
    expect(screen.getByRole("button", { name: "Revoke CI renders" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Revoke Figma plugin" })).toBeInTheDocument();
  });

  it("offers a plain member only the keys they created", () => {
    setup(null, apiKeys, admin.user_id, false); // "Figma plugin" is Grace's
    expect(screen.getByRole("button", { name: "Revoke Figma plugin" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Revoke CI renders" })).toBeNull();
  });

  it("shows no secret until a key was just created", () => {
    setup();
    expect(screen.queryByTestId("api-key-secret")).toBeNull();
    expect(screen.queryByText(createdApiKey.secret)).toBeNull();
    expect(screen.queryByRole("status")).toBeNull();
  });

  it("shows the secret of the key just created", () => {
    setup(createdApiKey, [createdApiKey, ...apiKeys]);
    expect(screen.getByTestId("api-key-secret")).toHaveTextContent(createdApiKey.secret);
    expect(screen.getByRole("status")).toHaveTextContent("Copy the key Batch exporter now");
  });

  it("never shows a listed key's full secret, only its prefix", () => {
    setup(null, [createdApiKey]);
    expect(screen.queryByText(createdApiKey.secret)).toBeNull();
    expect(screen.getByText(`${createdApiKey.prefix}…`)).toBeInTheDocument();
  });

  it("calls onCreate with the trimmed name and clears the field", async () => {
    const { onCreate, user } = setup();
    const field = screen.getByLabelText("Key name");
    await user.type(field, "  Batch exporter  ");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(onCreate).toHaveBeenCalledTimes(1);
    expect(onCreate).toHaveBeenCalledWith("Batch exporter");
    expect(field).toHaveValue("");
  });

  it("does not create a key named only with spaces", async () => {
    const { onCreate, user } = setup();
    await user.type(screen.getByLabelText("Key name"), "   ");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(onCreate).not.toHaveBeenCalled();
  });

  it("calls onRevoke with the key's id", async () => {
    const { onRevoke, user } = setup();
    await user.click(screen.getByRole("button", { name: "Revoke Figma plugin" }));
    expect(onRevoke).toHaveBeenCalledTimes(1);
    expect(onRevoke).toHaveBeenCalledWith("ak_01HZX9");
  });

  it("hides revoked keys", () => {
    setup();
    const table = screen.getByRole("table", { name: "API keys" });
    expect(within(table).getByText("CI renders")).toBeInTheDocument();
    expect(within(table).getByText("Figma plugin")).toBeInTheDocument();
    expect(within(table).queryByText("Old laptop")).toBeNull();
    expect(screen.queryByRole("button", { name: "Revoke Old laptop" })).toBeNull();
    expect(within(table).getAllByRole("button", { name: /^Revoke / })).toHaveLength(2);
  });

  it("says so when every key is revoked", () => {
    setup(null, apiKeys.filter((k) => k.revoked_at));
    expect(screen.getByText("No keys.")).toBeInTheDocument();
  });
});

describe("Members", () => {
  const setup = (myRole: Role, myUserId: string, inviteLink: string | null = null) => {
    const handlers = { onInvite: vi.fn(), onRevokeInvitation: vi.fn(), onRoleChange: vi.fn(), onRemove: vi.fn() };
    render(
      <Members members={members} invitations={invitations} myRole={myRole} myUserId={myUserId} inviteLink={inviteLink} {...handlers} />,
    );
    return { ...handlers, user: userEvent.setup() };
  };
  const options = (select: HTMLElement) => within(select).getAllByRole("option").map((o) => o.textContent);

  it("lets an owner change roles and remove everyone but themselves", () => {
    setup("owner", owner.user_id);
    expect(screen.getByRole("combobox", { name: `Role of ${admin.email}` })).toHaveValue("admin");
    expect(screen.getByRole("combobox", { name: `Role of ${member.email}` })).toHaveValue("member");
    expect(screen.queryByRole("combobox", { name: `Role of ${owner.email}` })).toBeNull();
    expect(screen.getByRole("button", { name: `Remove ${admin.email}` })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: `Remove ${member.email}` })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: `Remove ${owner.email}` })).toBeNull();
    expect(screen.getByText(/\(you\)/).closest("tr")).toHaveTextContent(owner.email);
    expect(options(screen.getByRole("combobox", { name: `Role of ${member.email}` }))).toEqual(["member", "admin", "owner"]);
  });

  it("shows an owner the Invitations card with the pending invitations", () => {
    setup("owner", owner.user_id);
    const card = screen.getByRole("region", { name: "Invitations" });
    expect(within(card).getByText("margaret@northwind.example")).toBeInTheDocument();
    expect(within(card).getByText("alan@contractor.example")).toBeInTheDocument();
    expect(options(within(card).getByLabelText("Role"))).toEqual(["member", "admin", "owner"]);
  });

  it("shows a plain member the list only", () => {
    setup("member", member.user_id);
    expect(screen.getByRole("table", { name: "Members" })).toHaveTextContent(owner.email);
    expect(screen.queryAllByRole("combobox")).toHaveLength(0);
    expect(screen.queryAllByRole("button", { name: /^Remove / })).toHaveLength(0);
    expect(screen.queryByRole("region", { name: "Invitations" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Invite" })).toBeNull();
    expect(screen.queryByText("margaret@northwind.example")).toBeNull();
  });

  it("does not let an admin grant or touch the owner role", () => {
    setup("admin", admin.user_id);
    expect(screen.queryByRole("combobox", { name: `Role of ${owner.email}` })).toBeNull();
    expect(screen.queryByRole("button", { name: `Remove ${owner.email}` })).toBeNull();
    expect(screen.queryByRole("combobox", { name: `Role of ${admin.email}` })).toBeNull();
    const memberRole = screen.getByRole("combobox", { name: `Role of ${member.email}` });
    expect(options(memberRole)).toEqual(["member", "admin"]);
    expect(screen.getByRole("button", { name: `Remove ${member.email}` })).toBeInTheDocument();
    const card = screen.getByRole("region", { name: "Invitations" });
    expect(options(within(card).getByLabelText("Role"))).toEqual(["member", "admin"]);
    expect(screen.queryByRole("option", { name: "owner" })).toBeNull();
  });

  it("sends the invited email and role to onInvite", async () => {
    const { onInvite, user } = setup("owner", owner.user_id);
    const card = screen.getByRole("region", { name: "Invitations" });
    await user.type(within(card).getByLabelText("Email"), "margaret@northwind.example");
    await user.selectOptions(within(card).getByLabelText("Role"), "admin");
    await user.click(within(card).getByRole("button", { name: "Invite" }));
    expect(onInvite).toHaveBeenCalledTimes(1);
    expect(onInvite).toHaveBeenCalledWith("margaret@northwind.example", "admin");
    expect(within(card).getByLabelText("Email")).toHaveValue("");
  });

  it("reports role changes, removals and revoked invitations by id", async () => {
    const { onRoleChange, onRemove, onRevokeInvitation, user } = setup("owner", owner.user_id);
    await user.selectOptions(screen.getByRole("combobox", { name: `Role of ${member.email}` }), "admin");
    expect(onRoleChange).toHaveBeenCalledWith(member.user_id, "admin");
    await user.click(screen.getByRole("button", { name: `Remove ${admin.email}` }));
    expect(onRemove).toHaveBeenCalledWith(admin.user_id);
    await user.click(screen.getByRole("button", { name: "Revoke invitation for alan@contractor.example" }));
    expect(onRevokeInvitation).toHaveBeenCalledWith("inv_8a91");
  });

  it("shows the invite link once there is one", () => {
    setup("owner", owner.user_id, "https://studio.pingvas.example/invite?token=abc");
    expect(screen.getByTestId("invite-link")).toHaveTextContent("https://studio.pingvas.example/invite?token=abc");
  });
});

describe("PlanPicker", () => {
  const setup = (canManage: boolean, current = "starter", subscribed = true, catalog = plans, currentInterval: "month" | "year" | null = "month") => {
    const onChoose = vi.fn();
    const onPortal = vi.fn();
    render(
      <PlanPicker
        plans={catalog}
        current={current}
        currentInterval={subscribed ? currentInterval : null}
        subscribed={subscribed}
        canManage={canManage}
        onChoose={onChoose}
        onPortal={onPortal}
      />,
    );
    return { onChoose, onPortal, user: userEvent.setup() };
  };

  it("marks the current plan and only it", () => {
    setup(true);
    const starter = screen.getByRole("article", { name: "Starter plan" });
    expect(starter).toHaveClass("plan-current");
    expect(within(starter).getByText("Current plan")).toBeInTheDocument();
    expect(within(starter).queryByRole("button")).toBeNull();
    expect(screen.getAllByText("Current plan")).toHaveLength(1);
    expect(screen.getByRole("article", { name: "Pro plan" })).not.toHaveClass("plan-current");
  });

  it("describes each plan's price and allowances", () => {
    setup(true);
    const pro = screen.getByRole("article", { name: "Pro plan" });
    expect(pro).toHaveTextContent("$75/month");
    expect(pro).toHaveTextContent("15,000 credits a month");
    expect(pro).toHaveTextContent("1 job at once");
    expect(pro).toHaveTextContent("FLUX models");
    expect(screen.getByRole("article", { name: "Studio plan" })).toHaveTextContent("3 jobs at once");
    const enterprise = screen.getByRole("article", { name: "Enterprise plan" });
    expect(enterprise).toHaveTextContent("Talk to us");
    expect(within(enterprise).getByRole("link", { name: "Contact sales" })).toHaveAttribute("href", "mailto:support@pingvas.studio") // the brand's address (the fallback brand here);
  });

  it("shows a member no switch buttons, no portal, and who can change the plan", () => {
    setup(false);
    expect(screen.queryAllByRole("button")).toHaveLength(0);
    expect(screen.getByText("Only the workspace's owners and admins change its plan.")).toBeInTheDocument();
  });

  it("lets an owner switch plans and open the billing portal", async () => {
    const { onChoose, onPortal, user } = setup(true);
    expect(screen.queryByText(/Only the workspace's owners/)).toBeNull();
    expect(screen.getByRole("button", { name: "Switch to Studio" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Switch to Starter" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Switch to Enterprise" })).toBeNull();
    await user.click(screen.getByRole("button", { name: "Switch to Pro" }));
    expect(onChoose).toHaveBeenCalledTimes(1);
    expect(onChoose).toHaveBeenCalledWith("pro", "month");
    await user.click(screen.getByRole("button", { name: "Billing portal" }));
    expect(onPortal).toHaveBeenCalledTimes(1);
  });

  it("offers a workspace with no subscription every priced plan to buy, its own included, and no portal", async () => {
    const { onChoose, user } = setup(true, "starter", false);
    expect(screen.queryByText("Current plan")).toBeNull();
    expect(screen.queryByRole("button", { name: "Billing portal" })).toBeNull();
    expect(screen.queryByRole("button", { name: /^Switch to/ })).toBeNull();
    await user.click(screen.getByRole("button", { name: "Subscribe to Starter" }));
    expect(onChoose).toHaveBeenCalledWith("starter", "month");
    expect(screen.getByRole("button", { name: "Subscribe to Pro" })).toBeInTheDocument();
  });
});

describe("PlanPicker billing period", () => {
  it("sells yearly what the store sells yearly, and says what it does not", async () => {
    const onChoose = vi.fn();
    render(<PlanPicker plans={plans} current="starter" subscribed={false} canManage onChoose={onChoose} onPortal={vi.fn()} />);
    const user = userEvent.setup();
    expect(screen.getByRole("radio", { name: "Monthly" })).toBeChecked();
    await user.click(screen.getByRole("radio", { name: "Yearly" }));
    expect(within(screen.getByRole("article", { name: "Starter plan" })).getByText("Not sold yearly")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /^Subscribe to Studio/ })).toBeNull();
    await user.click(screen.getByRole("button", { name: "Subscribe to Pro yearly" }));
    expect(onChoose).toHaveBeenCalledWith("pro", "year");
  });

  it("marks the current plan only in the period it is billed by", async () => {
    render(<PlanPicker plans={plans} current="pro" currentInterval="year" subscribed canManage onChoose={vi.fn()} onPortal={vi.fn()} />);
    expect(screen.getByRole("radio", { name: "Yearly" })).toBeChecked();
    expect(within(screen.getByRole("article", { name: "Pro plan" })).getByText("Current plan")).toBeInTheDocument();
    await userEvent.setup().click(screen.getByRole("radio", { name: "Monthly" }));
    expect(screen.getByRole("button", { name: "Switch to Pro" })).toBeInTheDocument();
  });

  it("offers nothing to buy where no payment provider is configured", () => {
    const notOnSale = plans.map((p) => ({ ...p, intervals: [] }));
    render(<PlanPicker plans={notOnSale} current="starter" subscribed={false} canManage onChoose={vi.fn()} onPortal={vi.fn()} />);
    expect(screen.queryByRole("radio")).toBeNull();
    expect(screen.queryAllByRole("button")).toHaveLength(0);
    expect(screen.getByText("Plans are not on sale on this server (no payment provider, or no plan offered through it).")).toBeInTheDocument();
  });
});

describe("SubscriptionCard", () => {
  it("cancels only after the owner confirms, saying until when the plan stays", async () => {
    const onCancel = vi.fn();
    render(<SubscriptionCard subscription={subscription} canManage onCancel={onCancel} onResume={vi.fn()} />);
    const user = userEvent.setup();
    expect(screen.getByText("Starter, billed monthly")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Cancel subscription" }));
    expect(onCancel).not.toHaveBeenCalled();
    expect(screen.getByRole("alertdialog")).toHaveTextContent("The plan stays until Dec 1, 2025, 12:00 AM UTC");
    await user.click(screen.getByRole("button", { name: "Keep it" }));
    expect(screen.queryByRole("alertdialog")).toBeNull();
    await user.click(screen.getByRole("button", { name: "Cancel subscription" }));
    await user.click(screen.getByRole("button", { name: "Yes, cancel" }));
    expect(onCancel).toHaveBeenCalledTimes(1);
  });

  it("offers to resume a cancelled subscription, not to cancel it again", async () => {
    const onResume = vi.fn();
    render(<SubscriptionCard subscription={cancelledSubscription} canManage onCancel={vi.fn()} onResume={onResume} />);
    expect(screen.getByTestId("subscription-status")).toHaveTextContent("cancelled");
    expect(screen.queryByRole("button", { name: "Cancel subscription" })).toBeNull();
    await userEvent.setup().click(screen.getByRole("button", { name: "Resume subscription" }));
    expect(onResume).toHaveBeenCalledTimes(1);
  });

  it("shows a member the subscription and no controls", () => {
    render(<SubscriptionCard subscription={subscription} canManage={false} onCancel={vi.fn()} onResume={vi.fn()} />);
    expect(screen.getByText("Starter, billed monthly")).toBeInTheDocument();
    expect(screen.queryAllByRole("button")).toHaveLength(0);
  });
});

describe("StorageMeter", () => {
  const GB = 1024 ** 3;

  it("reports the bytes used and the quota", () => {
    render(<StorageMeter used={5 * GB} limit={10 * GB} />);
    const meter = screen.getByRole("meter", { name: "Storage used" });
    expect(meter).toHaveAttribute("aria-valuenow", String(5 * GB));
    expect(meter).toHaveAttribute("aria-valuemax", String(10 * GB));
    expect(meter).not.toHaveClass("meter-full");
    expect(screen.getByText("5.0 GB of 10 GB used (50%)")).toBeInTheDocument();
  });

  it.each([
    [8.99, false],
    [9, true],
    [9.5, true],
    [12, true],
  ])("at %d of 10 GB: meter-full is %s", (used, full) => {
    render(<StorageMeter used={used * GB} limit={10 * GB} />);
    const meter = screen.getByRole("meter");
    expect(meter.classList.contains("meter-full")).toBe(full);
    expect(meter).toHaveAttribute("aria-valuenow", String(used * GB));
  });

  it("caps the fill at 100 %", () => {
    const { container } = render(<StorageMeter used={12 * GB} limit={10 * GB} />);
    expect(container.querySelector<HTMLElement>(".meter-fill")!.style.width).toBe("100%");
    expect(screen.getByText(/\(100%\)/)).toBeInTheDocument();
  });

  it("shows an empty meter at zero", () => {
    const { container } = render(<StorageMeter used={0} limit={10 * GB} />);
    expect(screen.getByRole("meter")).toHaveAttribute("aria-valuenow", "0");
    expect(container.querySelector<HTMLElement>(".meter-fill")!.style.width).toBe("0%");
  });

  it("has no meter without a quota", () => {
    render(<StorageMeter used={3 * GB} limit={null} />);
    expect(screen.queryByRole("meter")).toBeNull();
    expect(screen.getByText("3.0 GB used (no quota)")).toBeInTheDocument();
  });
});

describe("PlanSummary", () => {
  it("shows the plan, credits and no warning for a healthy workspace", () => {
    render(<PlanSummary tenant={tenant} />);
    expect(screen.getByTestId("plan")).toHaveTextContent("Starter");
    expect(screen.getByTestId("credits")).toHaveTextContent("1,840");
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("shows when a trial ends", () => {
    render(<PlanSummary tenant={trialTenant} />);
    expect(screen.getByText("Trial ends")).toBeInTheDocument();
    expect(screen.getByText("Dec 5, 2025, 9:30 AM UTC")).toBeInTheDocument();
  });

  it("warns, during the grace period, when generation will stop", () => {
    render(<PlanSummary tenant={billingHoldTenant} now={new Date("2025-11-24T10:00:00Z")} />);
    const alert = screen.getByRole("alert");
    expect(alert).toHaveTextContent("A payment failed: generation stops on Nov 27, 2025, 2:12 PM UTC. Update your payment method to keep generating.");
    expect(within(alert).getByRole("link", { name: "Update your payment method" })).toHaveAttribute("href", "/account/plan");
    expect(screen.getByRole("meter")).toHaveClass("meter-full");
  });

  it("says since when generation has been on hold once the grace period is over", () => {
    render(<PlanSummary tenant={billingHoldTenant} now={new Date("2025-11-28T10:00:00Z")} />);
    expect(screen.getByRole("alert")).toHaveTextContent(
      "Generation is on hold since Nov 27, 2025, 2:12 PM UTC: a payment failed or the subscription is paused. Update your payment method to generate again.",
    );
  });

  it("says a suspended workspace is suspended", () => {
    render(<PlanSummary tenant={suspendedTenant} />);
    expect(screen.getByRole("alert")).toHaveTextContent("This workspace is suspended.");
    expect(screen.getByTestId("credits")).toHaveClass("negative");
  });
});

describe("UsageChart", () => {
  it("draws one bar per day, the busiest day full height", () => {
    const { container } = render(<UsageChart days={days} />);
    const bars = container.querySelectorAll("rect");
    expect(bars).toHaveLength(30);
    const most = Math.max(...days.map((d) => d.spent));
    const heights = Array.from(bars, (b) => Number(b.getAttribute("height")));
    expect(Math.max(...heights)).toBe(160);
    expect(heights[days.findIndex((d) => d.spent === 0)]).toBe(0);
    expect(bars[0].querySelector("title")).toHaveTextContent(`${days[0].day}: ${days[0].spent} credits spent`);
    expect(screen.getByText(`Credits spent per day (UTC), most ${most}`)).toBeInTheDocument();
  });

  it("draws no bars without days", () => {
    const { container } = render(<UsageChart days={[]} />);
    expect(container.querySelectorAll("rect")).toHaveLength(0);
    expect(screen.getByRole("img", { name: "Credits spent per day" })).toBeInTheDocument();
  });
});

describe("DailyTable", () => {
  it("lists days with movement, newest first", () => {
    render(<DailyTable days={days} />);
    const rows = within(screen.getByRole("table", { name: "Usage per day" })).getAllByRole("row").slice(1);
    expect(rows).toHaveLength(days.filter((d) => d.spent || d.added).length);
    expect(rows[0]).toHaveTextContent("2025-11-30");
    expect(rows[rows.length - 1]).toHaveTextContent("2025-11-01");
    expect(rows[rows.length - 1]).toHaveTextContent("2,000");
  });

  it("says nothing happened yet", () => {
    render(<DailyTable days={[]} />);
    expect(screen.getByText("Nothing yet.")).toBeInTheDocument();
  });
});

describe("EntriesTable", () => {
  it("offers a receipt only for entries of a queue item", async () => {
    const onReceipt = vi.fn();
    render(<EntriesTable entries={entries} onReceipt={onReceipt} />);
    const rows = within(screen.getByRole("table", { name: "Ledger entries" })).getAllByRole("row").slice(1);
    expect(rows).toHaveLength(entries.length);
    rows.forEach((row, i) => {
      const receipt = within(row).queryByRole("button", { name: "Receipt" });
      if (entries[i].item_id === null) expect(receipt).toBeNull();
      else expect(receipt).not.toBeNull();
    });
    expect(screen.getAllByRole("button", { name: "Receipt" })).toHaveLength(entries.filter((e) => e.item_id !== null).length);

    await userEvent.setup().click(within(rows[1]).getByRole("button", { name: "Receipt" }));
    expect(onReceipt).toHaveBeenCalledTimes(1);
    expect(onReceipt).toHaveBeenCalledWith(entries[1].item_id);
  });

  it("shows kinds, signed amounts and balances", () => {
    render(<EntriesTable entries={entries} />);
    expect(screen.getByText("-12")).toHaveClass("negative");
    expect(screen.getByText("+250")).toHaveClass("positive");
    expect(screen.getByText("Generation · item 4821")).toBeInTheDocument();
    expect(screen.getByText("New period")).toBeInTheDocument();
    expect(screen.queryAllByRole("button")).toHaveLength(0);
  });
});

describe("RefusalNotice", () => {
  it("links to a fix that is a page", () => {
    const onAction = vi.fn();
    render(<RefusalNotice refusal={outOfCredits} onAction={onAction} />);
    expect(screen.getByRole("alert")).toHaveTextContent("Out of credits");
    expect(screen.getByRole("link", { name: "Get more credits" })).toHaveAttribute("href", "/account/plan");
    expect(screen.queryByRole("button")).toBeNull();
  });

  it("runs a fix that is an action from a button, then says what happened in its place", async () => {
    const onAction = vi.fn(async () => ({ ok: true, message: "We sent a new link to ada@northwind.example" }));
    render(<RefusalNotice refusal={emailNotVerified} onAction={onAction} />);
    expect(screen.getByRole("alert")).toHaveTextContent("Verify your e-mail");
    expect(screen.queryByRole("link")).toBeNull(); // a POST route is never a link to follow
    await userEvent.setup().click(screen.getByRole("button", { name: "Resend the link" }));

    expect(onAction).toHaveBeenCalledWith({ label: "Resend the link", href: "/api/v1/auth/verify-email/resend", method: "POST" });
    expect(await screen.findByRole("status")).toHaveTextContent("We sent a new link to ada@northwind.example");
    expect(screen.queryByRole("button", { name: "Resend the link" })).toBeNull();
  });

  it("keeps the action to try again when it failed", async () => {
    const onAction = vi.fn(async () => ({ ok: false, message: "Too many links sent. Try again in 10 minutes." }));
    render(<RefusalNotice refusal={emailNotVerified} onAction={onAction} />);
    await userEvent.setup().click(screen.getByRole("button", { name: "Resend the link" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Try again in 10 minutes.");
    expect(screen.getByRole("button", { name: "Resend the link" })).toBeEnabled();
  });
});

describe("NoticePrefs", () => {
  const setup = (saving = false) => {
    const onChange = vi.fn();
    render(<NoticePrefs email="ada@northwind.example" notices={notices} saving={saving} onChange={onChange} />);
    return { onChange, user: userEvent.setup() };
  };

  it("shows each of the four notices as a switch in its current state", () => {
    setup();
    expect(screen.getAllByRole("switch")).toHaveLength(4);
    expect(screen.getByRole("switch", { name: "Credits running low" })).toBeChecked();
    expect(screen.getByRole("switch", { name: "A payment failed" })).toBeChecked();
    expect(screen.getByRole("switch", { name: "Subscription renewed, changed or ending" })).not.toBeChecked();
    expect(screen.getByRole("switch", { name: "Workspace suspended or restored" })).toBeChecked();
    expect(screen.getByText("Sent to ada@northwind.example.")).toBeInTheDocument();
  });

  it("says security notices are always sent", () => {
    setup();
    expect(screen.getByText(/Security notices \(your password or e-mail address changed\) are always sent/)).toBeInTheDocument();
  });

  it("reports the switched notice and its new state", async () => {
    const { onChange, user } = setup();
    await user.click(screen.getByRole("switch", { name: "Subscription renewed, changed or ending" }));
    expect(onChange).toHaveBeenCalledWith("subscription", true);
    await user.click(screen.getByRole("switch", { name: "Credits running low" }));
    expect(onChange).toHaveBeenLastCalledWith("low_credits", false);
  });

  it("holds the switches while a change is being saved", () => {
    setup(true);
    for (const toggle of screen.getAllByRole("switch")) expect(toggle).toBeDisabled();
  });
});
