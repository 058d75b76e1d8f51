// Added to InvokeAI's own page (the studio): the account button with the plan and a live credit
// badge in the studio's top bar, a notice that explains a refusal and offers its fix in place
// of InvokeAI's generic error toast, and a banner while the user's e-mail address is not verified. Nothing of InvokeAI's is changed; our elements are re-added
// if the UI's re-renders remove them.

import { type AccountInfo, type Tenant, TOKEN_KEY, api, token } from "../shared/api";
import { brand } from "../shared/brand";
import { formatCredits, planLabel } from "../shared/format";
import { ACCOUNT_PATHS, RESEND_VERIFICATION, type Refusal } from "../shared/refusals";
import { NOTICE_ID, refusalNotice } from "./refusalNotice";
import { watchRefusals } from "./refusalWatch";
import { tapSocketIO } from "./socketTap";
import { BANNER_ID, renderVerifyBanner } from "./verifyBanner";
import "./studio.css";

const BAR_ID = "pingvas-account-bar";
const HIDE_GENERIC_TOAST = "pingvas-refusal-open"; // on <html> while our notice stands in for the UI's toast

// `unverified`: the user's address while it awaits verification, else null.
type State = { plan: string; credits: number; unverified: string | null } | null;
let state: State = null;

function signedIn(): boolean {
  return Boolean(token()) && !window.location.pathname.startsWith("/login");
}

function renderBar(): void {
  let bar = document.getElementById(BAR_ID);
  renderVerifyBanner(signedIn() && state ? state.unverified : null);
  if (!signedIn() || !state) {
    bar?.remove();
    return;
  }
  if (!bar) {
    bar = document.createElement("div");
    bar.id = BAR_ID;
    bar.innerHTML =
      '<span class="pingvas-plan" data-testid="pingvas-plan"></span>' +
      '<span class="pingvas-credits" data-testid="pingvas-credits" aria-live="polite"></span>' +
      `<a class="pingvas-account-button" href="${ACCOUNT_PATHS.overview}">Account</a>`;
    document.body.appendChild(bar);
  }
  (bar.querySelector(".pingvas-plan") as HTMLElement).textContent = planLabel(state.plan);
  const credits = bar.querySelector(".pingvas-credits") as HTMLElement;
  credits.textContent = `${formatCredits(state.credits)} credits`;
  credits.classList.toggle("pingvas-credits-out", state.credits <= 0);
}

async function refresh(): Promise<void> {
  if (!signedIn()) {
    state = null;
    renderBar();
    return;
  }
  try {
    const [tenant, account] = await Promise.all([api<Tenant>("/api/v1/tenant"), api<AccountInfo>("/api/v1/account").catch(() => null)]);
    state = { plan: tenant.plan, credits: tenant.credits, unverified: account && !account.email_verified ? account.email : null };
  } catch {
    state = null; // an operator (no workspace) or a lost session: no badge
  }
  renderBar();
}

function showRefusal(refusal: Refusal, url: string): void {
  if (url.includes(RESEND_VERIFICATION)) return; // the banner or notice that asked shows the answer in place
  document.getElementById(NOTICE_ID)?.remove();
  const notice = refusalNotice(refusal, () => document.documentElement.classList.remove(HIDE_GENERIC_TOAST));
  document.body.appendChild(notice);
  if (url.includes("/enqueue_batch")) document.documentElement.classList.add(HIDE_GENERIC_TOAST);
  if (/insufficient|credits/i.test(refusal.title)) void refresh();
}

function start(): void {
  const { name } = brand();
  document.title = name;
  tapSocketIO(
    (event) => {
      if (event.name === "credits_changed" && state) {
        state = { ...state, credits: (event.data as { credits: number }).credits };
        renderBar();
        if (state.unverified) void refresh(); // verified in another tab: the trial's credits just arrived
      }
    },
    () => void refresh(), // a (re)connection: whatever was missed meanwhile is in the balance now
  );
  watchRefusals(showRefusal);
  window.addEventListener("storage", (e) => {
    if (e.key === TOKEN_KEY) void refresh();
  });
  let lastPath = window.location.pathname;
  const keepBar = () => {
    if (window.location.pathname !== lastPath) {
      lastPath = window.location.pathname;
      void refresh(); // signed in or out through the UI's own routes
    } else if (state && signedIn() && (!document.getElementById(BAR_ID) || (state.unverified && !document.getElementById(BANNER_ID)))) {
      renderBar();
    }
  };
  new MutationObserver(keepBar).observe(document.documentElement, { childList: true, subtree: true });
  void refresh();
}

start();
