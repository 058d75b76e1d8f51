// Posts an account form as JSON and shows the service's refusal (its `detail`) if there is one.
function submitAccountForm(url, bodyOf, successText) {
  const form = document.getElementById("form");
  const message = document.getElementById("message");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.className = "";
    message.textContent = "…";
    try {
      const response = await fetch(url, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(bodyOf(form)),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        const detail = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : body.detail;
        throw new Error(detail || `Request failed (${response.status})`);
      }
      message.textContent = successText;
      setTimeout(() => { location.href = "/"; }, 1200);
    } catch (error) {
      message.className = "error";
      message.textContent = error.message;
    }
  });
}
