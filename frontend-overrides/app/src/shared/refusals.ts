// What each of the service's refusals means to a customer and where its fix is: the one catalog the
// studio's refusal notice and the account app read (codes: tenant_middleware/errors.py).

import { ApiError, type Detail, api } from "./api";
import { brand } from "./brand";

/** A fix is a link, or with `method: "POST"` an action: a button that POSTs `href` (see runAction). */
export type Fix = { label: string; href: string; method?: "POST" };

export type Refusal = { title: string; message: string; fix: Fix | null };

export const ACCOUNT_PATHS = {
  overview: "/account",
  usage: "/account/usage",
  plan: "/account/plan",
  keys: "/account/keys",
  members: "/account/members",
  notices: "/account/notices",
} as const;

/** Sends the signed-in user a new link to verify their address. */
export const RESEND_VERIFICATION = "/api/v1/auth/verify-email/resend";

const FIXES: Record<string, Omit<Refusal, "message">> = {
  insufficient_credits: { title: "Out of credits", fix: { label: "Get more credits", href: ACCOUNT_PATHS.plan } },
  feature_not_in_plan: { title: "Not in your plan", fix: { label: "Upgrade your plan", href: ACCOUNT_PATHS.plan } },
  storage_quota_exceeded: { title: "Storage full", fix: { label: "See storage and plans", href: ACCOUNT_PATHS.plan } },
  payment_overdue: { title: "Payment overdue", fix: { label: "Update your payment method", href: ACCOUNT_PATHS.plan } },
  tenant_suspended: { title: "Workspace suspended", fix: { label: "Contact support", href: "mailto:" } }, // + the brand's address
  rate_limited: { title: "Too many attempts", fix: null },
  email_not_verified: { title: "Verify your e-mail", fix: { label: "Resend the link", href: RESEND_VERIFICATION, method: "POST" } },
};

/** The refusal for a service error `code`, or null when the code is not one a customer can act on. */
export function refusalFor(code: string, detail: string, retryAfter: number | null = null): Refusal | null {
  if (!Object.hasOwn(FIXES, code)) return null;
  const known = FIXES[code];
  const fix = known.fix?.href === "mailto:" ? { ...known.fix, href: `mailto:${brand().support_email}` } : known.fix;
  return { ...known, fix, message: code === "rate_limited" ? withWait(detail, retryAfter) : detail };
}

export type ActionOutcome = { ok: boolean; message: string };

/** POSTs an action's route as the signed-in user; what happened, as a sentence to show (never throws). */
export async function runAction(href: string): Promise<ActionOutcome> {
  try {
    const { detail } = await api<Detail>(href, { method: "POST" });
    return { ok: true, message: detail };
  } catch (e) {
    if (!(e instanceof ApiError)) return { ok: false, message: "The studio could not be reached; try again" };
    return { ok: false, message: withWait(e.detail, e.retryAfter) };
  }
}

// The service's own "…; try again in 3600 seconds" at the end of a rate limit's detail.
const SERVICE_WAIT = /[;,.]?\s*try again in \d+ seconds?\.?$/i;

/** A rate limit's detail with the wait from Retry-After, in words, in place of the service's count of seconds. */
function withWait(detail: string, retryAfter: number | null): string {
  if (!retryAfter) return detail;
  const reason = detail.replace(SERVICE_WAIT, "").replace(/[\s.;,]+$/, "");
  return `${reason}${/[!?]$/.test(reason) ? "" : "."} Try again in ${humanSeconds(retryAfter)}.`;
}

export function humanSeconds(seconds: number): string {
  if (seconds < 90) return Math.ceil(seconds) === 1 ? "1 second" : `${Math.ceil(seconds)} seconds`;
  return `${Math.ceil(seconds / 60)} minutes`;
}
