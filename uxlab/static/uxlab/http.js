// POSTs from page scripts: JSON in, JSON out, with the CSRF token Django put in the page
// ({% csrf_token %} in the template).

export function csrfToken() {
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
}

// POST `body` as JSON; resolves with the fetch Response (network failures reject, as fetch does).
export function postJson(url, body) {
  return fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  });
}
