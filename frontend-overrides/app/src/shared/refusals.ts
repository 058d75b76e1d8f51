// What each of the service's refusals means to a customer and where its fix is: the one catalog the
// studio's refusal notice and the account app read (codes: tenant_middleware/errors.py).

import { brand } from "./brand";

export type Refusal = { title: string; message: string; fix: { label: string; href: string } | null };

export const ACCOUNT_PATHS = {
  overview: "/account",
  usage: "/account/usage",
  plan: "/account/plan",
  keys: "/account/keys",
  members: "/account/members",
} as const;

const FIXES: Record<string, Omit<Refusal, "message">> = {
  insufficient_credits: { title: "Out of credits", fix: { label: "Get more credits", href: ACCOUNT_PATHS.plan } },
  feature_not_in_plan: { title: "Not in your plan", fix: { label: "Upgrade your plan", href: ACCOUNT_PATHS.plan } },
  storage_quota_exceeded: { title: "Storage full", fix: { label: "See storage and plans", href: ACCOUNT_PATHS.plan } },
  payment_overdue: { title: "Payment overdue", fix: { label: "Update your payment method", href: ACCOUNT_PATHS.plan } },
  tenant_suspended: { title: "Workspace suspended", fix: { label: "Contact support", href: "mailto:" } }, // + the brand's address
  rate_limited: { title: "Too many attempts", fix: null },
};

/** The refusal for a service error `code`, or null when the code is not one a customer can act on. */
export function refusalFor(code: string, detail: string, retryAfter: number | null = null): Refusal | null {
  if (!Object.hasOwn(FIXES, code)) return null;
  const known = FIXES[code];
  const wait = code === "rate_limited" && retryAfter ? ` Try again in ${humanSeconds(retryAfter)}.` : "";
  const fix = known.fix?.href === "mailto:" ? { ...known.fix, href: `mailto:${brand().support_email}` } : known.fix;
  return { ...known, fix, message: `${detail}${wait}` };
}

export function humanSeconds(seconds: number): string {
  if (seconds < 90) return Math.ceil(seconds) === 1 ? "1 second" : `${Math.ceil(seconds)} seconds`;
  return `${Math.ceil(seconds / 60)} minutes`;
}
