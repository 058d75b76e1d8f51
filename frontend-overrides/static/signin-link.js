// Shows "New to <brand>? Create a workspace" (a link to /signup) under InvokeAI's own
// sign-in form, so a newcomer finds sign-up from the page the studio opens on.
//
// The UI is InvokeAI's React app, unmodified: this script only adds one node after the login form
// and never removes or changes InvokeAI's markup. It acts on the sign-in route (`/login`) only, so
// it does nothing once signed in; the observer stays because the app returns to /login client-side
// on sign-out, and its callback costs a path check on every other page.
(() => {
  const LINK_ID = "pingvas-signup-link";

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

  function addSignupLink() {
    if (!onSignInPage() || document.getElementById(LINK_ID)) return;
    const form = loginForm();
    if (!form) return;
    const line = document.createElement("p");
    line.id = LINK_ID;
    line.className = "pingvas-signup-link";
    const link = document.createElement("a");
    link.href = "/signup";
    link.textContent = "Create a workspace";
    line.append(`New to ${brandName()}? `, link);
    form.after(line);
  }

  new MutationObserver(addSignupLink).observe(document.body, { childList: true, subtree: true });
  addSignupLink();
})();
