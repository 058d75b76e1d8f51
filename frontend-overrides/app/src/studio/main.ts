// Added to InvokeAI's own page (the studio): the account button with the plan and a live credit
// badge in the studio's top bar, and a notice that explains a refusal and links to its fix in place
// of InvokeAI's generic error toast. Nothing of InvokeAI's is changed; our elements are re-added
// if the UI's re-renders remove them.

import { type Tenant, TOKEN_KEY, api, token } from "../shared/api";
import { brand } from "../shared/brand";
import { formatCredits, planLabel } from "../shared/format";
import { ACCOUNT_PATHS, type Refusal } from "../shared/refusals";
import { watchRefusals } from "./refusalWatch";
import { tapSocketIO } from "./socketTap";
import "./studio.css";

const BAR_ID = "pingvas-account-bar";
const NOTICE_ID = "pingvas-refusal";
const HIDE_GENERIC_TOAST = "pingvas-refusal-open"; // on <html> while our notice stands in for the UI's toast

type State = { plan: string; credits: number } | null;
let state: State = null;

function signedIn(): boolean {
  return Boolean(token()) && !window.location.pathname.startsWith("/login");
}

function renderBar(): void {
  let bar = document.getElementById(BAR_ID);
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
    const tenant = await api<Tenant>("/api/v1/tenant");
    state = { plan: tenant.plan, credits: tenant.credits };
  } catch {
    state = null; // an operator (no workspace) or a lost session: no badge
  }
  renderBar();
}

function showRefusal(refusal: Refusal, url: string): void {
  document.getElementById(NOTICE_ID)?.remove();
  const notice = document.createElement("div");
  notice.id = NOTICE_ID;
  notice.setAttribute("role", "alert");
  const title = document.createElement("strong");
  title.textContent = refusal.title;
  const message = document.createElement("p");
  message.textContent = refusal.message;
  notice.append(title, message);
  if (refusal.fix) {
    const fix = document.createElement("a");
    fix.href = refusal.fix.href;
    fix.textContent = refusal.fix.label;
    notice.append(fix);
  }
  const close = document.createElement("button");
  close.type = "button";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "×";
  close.addEventListener("click", () => {
    notice.remove();
    document.documentElement.classList.remove(HIDE_GENERIC_TOAST);
  });
  notice.append(close);
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
    } else if (state && signedIn() && !document.getElementById(BAR_ID)) {
      renderBar();
    }
  };
  new MutationObserver(keepBar).observe(document.documentElement, { childList: true, subtree: true });
  void refresh();
}

start();
