// The "verify your e-mail" banner on the studio's page, shown while the signed-in user's address is
// not verified (GET /api/v1/account), with a button that sends a new link. Until then the account
// may look around but not generate or upload (the service refuses with email_not_verified).

import { RESEND_VERIFICATION } from "../shared/refusals";
import { actionButton } from "./refusalNotice";

export const BANNER_ID = "pingvas-verify-banner";

/** Shows the banner for the unverified address `email`; none (null) removes it. */
export function renderVerifyBanner(email: string | null): void {
  const current = document.getElementById(BANNER_ID);
  if (email === null || current?.dataset.email !== email) current?.remove();
  if (email === null || document.getElementById(BANNER_ID)) return;
  const banner = document.createElement("div");
  banner.id = BANNER_ID;
  banner.dataset.email = email;
  banner.setAttribute("role", "region");
  banner.setAttribute("aria-label", "Verify your e-mail");
  const title = document.createElement("strong");
  title.textContent = "Verify your e-mail";
  const text = document.createElement("span");
  text.textContent = `Open the link we sent to ${email} to get your trial credits and start generating.`;
  banner.append(title, text, actionButton("Resend the link", RESEND_VERIFICATION));
  document.body.appendChild(banner);
}
