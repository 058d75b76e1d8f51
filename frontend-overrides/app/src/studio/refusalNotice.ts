// The refusal notice's element: the title, the service's reason and its fix, either a link or an
// action (a button that POSTs the fix's route and then says what happened in its place).

import { type Refusal, runAction } from "../shared/refusals";

export const NOTICE_ID = "pingvas-refusal";

export function refusalNotice(refusal: Refusal, onDismiss: () => void): HTMLElement {
  const notice = document.createElement("div");
  notice.id = NOTICE_ID;
  notice.setAttribute("role", "alert");
  const title = document.createElement("strong");
  title.textContent = refusal.title;
  const message = document.createElement("p");
  message.textContent = refusal.message;
  notice.append(title, message);
  const { fix } = refusal;
  if (fix?.method === "POST") {
    notice.append(actionButton(fix.label, fix.href));
  } else if (fix) {
    const link = document.createElement("a");
    link.href = fix.href;
    link.textContent = fix.label;
    notice.append(link);
  }
  const close = document.createElement("button");
  close.type = "button";
  close.className = "pingvas-dismiss";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "×";
  close.addEventListener("click", () => {
    notice.remove();
    onDismiss();
  });
  notice.append(close);
  return notice;
}

/** A button that POSTs `href` once clicked and is then replaced by the answer (kept on a failure, to try again). */
export function actionButton(label: string, href: string): HTMLElement {
  const box = document.createElement("span");
  box.className = "pingvas-action";
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  const outcome = document.createElement("span");
  outcome.setAttribute("role", "status");
  button.addEventListener("click", async () => {
    button.disabled = true;
    const { ok, message } = await runAction(href);
    outcome.textContent = message;
    if (ok) button.remove();
    else button.disabled = false;
  });
  box.append(button, outcome);
  return box;
}
