// The API reference page: Swagger UI (loaded by the page as a classic script, a global) reads
// /openapi.json. A module of its own because the Content-Security-Policy allows no inline script.
/* global SwaggerUIBundle */

const root = document.getElementById("swagger-ui");

SwaggerUIBundle({
  url: "/openapi.json",
  domNode: root,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  validatorUrl: null, // no validator badge: it would call a remote host
  deepLinking: false, // a deep link is an <a> inside each operation's <button>: nested controls
  syntaxHighlight: false, // its palette puts red on dark grey (contrast 3.4:1)
  onComplete: () => {
    labelControls();
    new MutationObserver(labelControls).observe(root, { childList: true, subtree: true });
    document.body.dataset.ready = "1";
  },
});

// Swagger UI renders a few things assistive technology cannot use; mend them as they appear
// (operations render when opened): a parameter's <select> gets its parameter's name, and a
// scrolling example can be reached with the keyboard.
function labelControls() {
  for (const select of root.querySelectorAll("tr[data-param-name] select:not([aria-label])")) {
    const row = select.closest("tr[data-param-name]");
    select.setAttribute("aria-label", `${row.dataset.paramName} (${row.dataset.paramIn})`);
  }
  for (const pre of root.querySelectorAll("pre:not([tabindex])")) pre.tabIndex = 0;
}
