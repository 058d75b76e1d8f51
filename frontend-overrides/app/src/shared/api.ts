// The studio's HTTP API as the account app and the studio script call it: the signed-in user's
// token (InvokeAI's UI keeps it in localStorage), JSON in and out, refusals as ApiError.

export const TOKEN_KEY = "auth_token";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly retryAfter: number | null = null,
  ) {
    super(detail);
  }
}

export function token(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function signIn(newToken: string): void {
  localStorage.setItem(TOKEN_KEY, newToken);
}

/** The service's refusal from a response: its `detail` and `code` (ARCHITECTURE §7). */
export async function errorOf(response: Response): Promise<ApiError> {
  const body = await response.json().catch(() => ({}));
  const detail = Array.isArray(body.detail)
    ? body.detail.map((d: { msg: string }) => d.msg).join("; ")
    : typeof body.detail === "string"
      ? body.detail
      : `Request failed (${response.status})`;
  const retry = Number(response.headers.get("Retry-After"));
  return new ApiError(response.status, body.code ?? "unknown", detail, Number.isFinite(retry) && retry > 0 ? retry : null);
}

/** A call to the API as the signed-in user; `anonymous` sends no credential (the routes a link in an e-mail opens). */
export async function api<T>(path: string, init: { method?: string; body?: unknown; anonymous?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = {};
  const bearer = init.anonymous ? null : token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: init.method ?? "GET",
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as T;
}

// The shapes of the routes the app reads (invokeai_saas/api, billing and tenancy).

export type Subscription = {
  subscription_id: string;
  plan: string;
  interval: string;
  status: string;
  renews_at: string | null;
  ends_at: string | null;
};

export type Tenant = {
  id: string;
  name: string;
  plan: string;
  status: string;
  member_count: number;
  features: string[];
  credits: number;
  storage_bytes: number;
  storage_limit_bytes: number | null;
  concurrent_queues: number | null;
  trial_ends_at: string | null;
  billing_hold_at: string | null;
  subscription: Subscription | null;
};

export type Entry = {
  entry_id: number;
  kind: string;
  amount: number;
  balance_after: number;
  item_id: number | null;
  attempt: number | null;
  seconds: number | null;
  reason: string | null;
  created_at: string;
};

export type DayTotal = { day: string; spent: number; added: number; by_kind: Record<string, number> };

export type UsagePage = { credits: number; entries: Entry[]; next_before: number | null; days: DayTotal[] };

export type Receipt = { item_id: number; status: string; credits_charged: number; entries: Entry[]; explanation: string };

export type Interval = "month" | "year";

export type Plan = {
  name: string;
  price_usd_month: number | null;
  credits_per_period: number | null;
  storage_gb: number | null;
  concurrent_queues: number | null;
  features: string[];
  intervals: Interval[]; // how this server sells it (none: not on sale here)
};

export type Role = "owner" | "admin" | "member";

export type Member = {
  user_id: string;
  email: string;
  display_name: string | null;
  role: Role;
  is_active: boolean;
  created_at: string;
};

export type Invitation = { invitation_id: string; email: string; role: Role; invited_by: string; created_at: string; expires_at: string };

export type CreatedInvitation = { invitation_id: string; email: string; role: Role; expires_at: string; token: string; url: string };

export type ApiKey = {
  api_key_id: string;
  user_id: string; // who created it: they, or an owner or admin, may revoke it
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
};

export type CreatedApiKey = ApiKey & { secret: string };

export type Me = { user_id: string; email: string; display_name: string | null };

export type SignedIn = { token: string; user_id: string; tenant_id: string | null };

/** POST /api/v1/signup when the address must be verified first (202): no token, a "check your e-mail" detail. */
export type SignupPending = { detail: string; email: string };

/** The e-mails a user may turn off (security notices, such as a changed password, are always sent). */
export type Notices = { low_credits: boolean; payment_failed: boolean; subscription: boolean; suspension: boolean };

/** GET /api/v1/account: the signed-in user's address and notice preferences. */
export type AccountInfo = { user_id: string; email: string; email_verified: boolean; notices: Notices };

/** An answer that is only a sentence for the user (202s of the e-mail routes). */
export type Detail = { detail: string };
