// Adds two lines under InvokeAI's own sign-in form: "Forgot password?" (→ /account/forgot, with the
// address typed so far) and "New to <brand>? Create a workspace" (→ /signup), so that a newcomer and
// a user locked out both find their way from the page the studio opens on.
//
// The UI is InvokeAI's React app, unmodified: this script only adds nodes after the login form
// and never removes or changes InvokeAI's markup. It acts on the sign-in route (`/login`) only, so
// it does nothing once signed in; the observer stays because the app returns to /login client-side
// on sign-out, and its callback costs a path check on every other page.
(() => {
  const LINK_ID = "pingvas-signup-link";
  const FORGOT_ID = "pingvas-forgot-link";
  const FORGOT_PATH = "/account/forgot";

  // The brand's facts, written into the page by invokeai_saas/wiring/branding.py.
  const brandName = () => {
    try {
      return JSON.parse(document.getElementById("pingvas-brand").textContent).name;
    } catch {
      return "Pingvas Studio";
    }
  };

  const onSignInPage = () => /\/login\/?$/.test(location.pathname);

  // InvokeAI's LoginPage: a <form> with an email field and a current-password field. (The profile
  // page also has a current-password field, but no email input in its form, and lives at /profile.)
  function loginForm() {
    const password = document.querySelector('form input[type="password"][autocomplete="current-password"]');
    const form = password && password.closest("form");
    return form && form.querySelector('input[type="email"]') ? form : null;
  }

  function line(id, ...content) {
    const p = document.createElement("p");
    p.id = id;
    p.className = "pingvas-signin-line";
    p.append(...content);
    return p;
  }

  function forgotLine(form) {
    const link = document.createElement("a");
    link.href = FORGOT_PATH;
    link.textContent = "Forgot password?";
    // Carry the address typed so far, read when followed (the field is InvokeAI's, only read).
    link.addEventListener("click", () => {
      const email = form.querySelector('input[type="email"]').value.trim();
      link.href = email ? `${FORGOT_PATH}?email=${encodeURIComponent(email)}` : FORGOT_PATH;
    });
    return line(FORGOT_ID, link);
  }

  function signupLine() {
    const link = document.createElement("a");
    link.href = "/signup";
    link.textContent = "Create a workspace";
    return line(LINK_ID, `New to ${brandName()}? `, link);
  }

  function addLinks() {
    if (!onSignInPage() || (document.getElementById(FORGOT_ID) && document.getElementById(LINK_ID))) return;
    const form = loginForm();
    if (!form) return;
    document.getElementById(FORGOT_ID)?.remove();
    document.getElementById(LINK_ID)?.remove();
    form.after(forgotLine(form), signupLine());
  }

  new MutationObserver(addLinks).observe(document.body, { childList: true, subtree: true });
  addLinks();
})();
