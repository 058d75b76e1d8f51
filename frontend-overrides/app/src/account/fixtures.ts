// Realistic data in the shapes the studio's API returns (src/shared/api.ts), shared by the stories
// and the component tests. Fixed dates, so stories and tests render the same every day.

import type {
  ApiKey,
  CreatedApiKey,
  DayTotal,
  Entry,
  Invitation,
  Member,
  Notices,
  Plan,
  Receipt,
  Subscription,
  Tenant,
} from "../shared/api";
import { refusalFor, type Refusal } from "../shared/refusals";

const GB = 1024 ** 3;

export const subscription: Subscription = {
  subscription_id: "sub_1QpZ8kLx3Gm2",
  plan: "starter",
  interval: "month",
  status: "active",
  renews_at: "2025-12-01T00:00:00Z",
  ends_at: null,
};

export const tenant: Tenant = {
  id: "7c1e4a52-2f0b-4d7e-9a51-3f6c2b9d8e10",
  name: "Northwind Studio",
  plan: "starter",
  status: "active",
  member_count: 3,
  features: ["canvas", "generate", "sd_models", "upscaling", "workflows"],
  credits: 1840,
  storage_bytes: Math.round(4.2 * GB),
  storage_limit_bytes: 20 * GB,
  concurrent_queues: 1,
  trial_ends_at: null,
  billing_hold_at: null,
  subscription,
};

export const trialTenant: Tenant = {
  ...tenant,
  id: "b3d0f7e1-8c4a-4e62-a1f9-0d5c7e2b6a34",
  name: "Ada's sketches",
  plan: "starter",
  member_count: 1,
  credits: 120,
  storage_bytes: 310 * 1024 ** 2,
  trial_ends_at: "2025-12-05T09:30:00Z",
  subscription: null,
};

/** Subscribed and then cancelled: the plan stays until `ends_at`. */
export const cancelledSubscription: Subscription = { ...subscription, plan: "pro", status: "cancelled", renews_at: null, ends_at: "2025-12-14T00:00:00Z" };

export const billingHoldTenant: Tenant = {
  ...tenant,
  plan: "pro",
  member_count: 6,
  features: ["canvas", "flux_models", "generate", "nano_banana", "sd_models", "upscaling", "workflows"],
  credits: 0,
  storage_bytes: Math.round(99.5 * GB),
  storage_limit_bytes: 100 * GB,
  billing_hold_at: "2025-11-27T14:12:00Z",
  subscription: { ...subscription, plan: "pro", status: "past_due" },
};

export const suspendedTenant: Tenant = {
  ...tenant,
  status: "suspended",
  credits: -35,
  subscription: { ...subscription, status: "expired", renews_at: null, ends_at: "2025-11-20T00:00:00Z" },
};

/** The catalog as `GET /api/v1/billing/plans` answers it (billing/plans.py). */
export const plans: Plan[] = [
  {
    name: "starter",
    price_usd_month: 25,
    credits_per_period: 5000,
    storage_gb: 20,
    concurrent_queues: 1,
    features: ["canvas", "generate", "sd_models", "upscaling", "workflows"],
    intervals: ["month"],
  },
  {
    name: "pro",
    price_usd_month: 75,
    credits_per_period: 15000,
    storage_gb: 100,
    concurrent_queues: 1,
    features: ["canvas", "flux_models", "generate", "nano_banana", "sd_models", "upscaling", "workflows"],
    intervals: ["month", "year"],
  },
  {
    name: "studio",
    price_usd_month: 150,
    credits_per_period: 30000,
    storage_gb: 200,
    concurrent_queues: 3,
    features: ["canvas", "flux_models", "generate", "lora_training", "multi_queue", "nano_banana", "sd_models", "upscaling", "workflows"],
    intervals: ["month"],
  },
  {
    name: "enterprise",
    price_usd_month: null,
    credits_per_period: null,
    storage_gb: null,
    concurrent_queues: null,
    features: ["canvas", "dedicated_infrastructure", "flux_models", "generate", "lora_training", "multi_queue", "nano_banana", "sd_models", "sla", "upscaling", "workflows"],
    intervals: [],
  },
];

/** 30 days of usage ending 2025-11-30: busier on weekdays, a couple of idle days, a grant and a period reset. */
export const days: DayTotal[] = Array.from({ length: 30 }, (_, i): DayTotal => {
  const date = new Date(Date.UTC(2025, 10, 1 + i));
  const weekday = date.getUTCDay();
  const idle = i === 8 || i === 9 || i === 22;
  const base = weekday === 0 || weekday === 6 ? 18 : 64;
  const spent = idle ? 0 : base + ((i * 37) % 41);
  const generation = Math.round(spent * 0.8);
  const added = i === 0 ? 2000 : i === 14 ? 250 : 0;
  return {
    day: date.toISOString().slice(0, 10),
    spent,
    added,
    by_kind: spent ? { usage: generation, external_api: spent - generation } : ({} as Record<string, number>),
  };
});

export const entries: Entry[] = [
  {
    entry_id: 9051,
    kind: "usage",
    amount: -12,
    balance_after: 1840,
    item_id: 4821,
    attempt: 1,
    seconds: 11.6,
    reason: "SDXL · 1024×1024 · 30 steps",
    created_at: "2025-11-30T16:42:10Z",
  },
  {
    entry_id: 9050,
    kind: "external_api",
    amount: -8,
    balance_after: 1852,
    item_id: 4820,
    attempt: 1,
    seconds: null,
    reason: "nano-banana image edit",
    created_at: "2025-11-30T16:39:55Z",
  },
  {
    entry_id: 9049,
    kind: "refund",
    amount: 6,
    balance_after: 1860,
    item_id: 4817,
    attempt: 2,
    seconds: 5.4,
    reason: "Generation failed: refunded",
    created_at: "2025-11-30T15:02:31Z",
  },
  {
    entry_id: 9032,
    kind: "grant",
    amount: 250,
    balance_after: 1854,
    item_id: null,
    attempt: null,
    seconds: null,
    reason: "Goodwill credits from support",
    created_at: "2025-11-15T10:00:00Z",
  },
  {
    entry_id: 8800,
    kind: "period_reset",
    amount: 2000,
    balance_after: 2000,
    item_id: null,
    attempt: null,
    seconds: null,
    reason: null,
    created_at: "2025-11-01T00:00:00Z",
  },
];

export const receipt: Receipt = {
  item_id: 4817,
  status: "completed",
  credits_charged: 9,
  entries: [
    {
      entry_id: 9047,
      kind: "usage",
      amount: -15,
      balance_after: 1854,
      item_id: 4817,
      attempt: 1,
      seconds: 14.2,
      reason: "FLUX dev · 1024×1024 · 28 steps (attempt 1)",
      created_at: "2025-11-30T15:01:50Z",
    },
    { ...entries[2] },
  ],
  explanation: "The first attempt failed after 5.4 s of GPU time; the 6 credits it used were refunded. You paid for the attempt that finished.",
};

export const apiKeys: ApiKey[] = [
  {
    api_key_id: "ak_01HZX3",
    user_id: "u-ada",
    name: "CI renders",
    prefix: "pv_live_3kq8",
    created_at: "2025-10-02T08:15:00Z",
    last_used_at: "2025-11-30T06:00:12Z",
    revoked_at: null,
  },
  {
    api_key_id: "ak_01HZX9",
    user_id: "u-grace",
    name: "Figma plugin",
    prefix: "pv_live_m2c7",
    created_at: "2025-11-12T13:40:00Z",
    last_used_at: null,
    revoked_at: null,
  },
  {
    api_key_id: "ak_01HZW1",
    user_id: "u-ada",
    name: "Old laptop",
    prefix: "pv_live_a9d0",
    created_at: "2025-06-20T19:05:00Z",
    last_used_at: "2025-08-01T11:22:00Z",
    revoked_at: "2025-09-01T09:00:00Z",
  },
];

export const createdApiKey: CreatedApiKey = {
  api_key_id: "ak_01J0A4",
  user_id: "u-ada",
  name: "Batch exporter",
  prefix: "pv_live_q7t1",
  created_at: "2025-11-30T17:03:44Z",
  last_used_at: null,
  revoked_at: null,
  secret: "pv_live_q7t1Jx9vR2mKc84LwTn0bYdE5hGsPzuA",
};

export const owner: Member = {
  user_id: "u-ada",
  email: "ada@northwind.example",
  display_name: "Ada Lovelace",
  role: "owner",
  is_active: true,
  created_at: "2025-03-04T09:00:00Z",
};

export const admin: Member = {
  user_id: "u-grace",
  email: "grace@northwind.example",
  display_name: "Grace Hopper",
  role: "admin",
  is_active: true,
  created_at: "2025-04-11T12:30:00Z",
};

export const member: Member = {
  user_id: "u-linus",
  email: "linus@northwind.example",
  display_name: null,
  role: "member",
  is_active: true,
  created_at: "2025-09-22T16:45:00Z",
};

export const members: Member[] = [owner, admin, member];

export const invitations: Invitation[] = [
  {
    invitation_id: "inv_5d2f",
    email: "margaret@northwind.example",
    role: "member",
    invited_by: owner.user_id,
    created_at: "2025-11-28T10:00:00Z",
    expires_at: "2025-12-05T10:00:00Z",
  },
  {
    invitation_id: "inv_8a91",
    email: "alan@contractor.example",
    role: "admin",
    invited_by: admin.user_id,
    created_at: "2025-11-29T15:20:00Z",
    expires_at: "2025-12-06T15:20:00Z",
  },
];

export const inviteLink = "https://studio.pingvas.example/invite?token=Zk3q9Vt2LmXc0RbN";

export const outOfCredits = refusalFor(
  "insufficient_credits",
  "This generation needs 12 credits; the workspace has 4.",
) as Refusal;

export const rateLimited = refusalFor("rate_limited", "Too many sign-up attempts from this address.", 120) as Refusal;

export const suspended = refusalFor("tenant_suspended", "This workspace is suspended.") as Refusal;

export const emailNotVerified = refusalFor(
  "email_not_verified",
  "Verify your e-mail address to generate and upload: open the link we sent to ada@northwind.example, or send a new one.",
) as Refusal;

export const notices: Notices = { low_credits: true, payment_failed: true, subscription: false, suspension: true };
