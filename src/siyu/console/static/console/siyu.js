// The console's few behaviours, as listeners rather than inline handlers: the Content-Security-Policy
// runs no inline script without the page's nonce.
document.addEventListener("submit", (event) => {
  // A form or the button that sent it may ask first (deleting a live code stops its QR).
  const asking = event.submitter?.closest("[data-confirm]") || event.target.closest("[data-confirm]");
  if (asking && !window.confirm(asking.dataset.confirm)) event.preventDefault();
});
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.requestSubmit();
});
document.addEventListener("click", (event) => {
  // On a phone the menu folds away behind one button.
  const toggle = event.target.closest("[data-menu-toggle]");
  if (toggle) {
    const open = document.body.classList.toggle("menu-open");
    toggle.setAttribute("aria-expanded", String(open));
  }
  if (event.target.closest("[data-back]")) {
    event.preventDefault();
    history.back();
  }
});
document.addEventListener("change", (event) => {
  // A header box ticks or clears every box of its name on the page (the customer list's rows).
  const all = event.target.closest("[data-check-all]");
  if (!all) return;
  for (const box of document.querySelectorAll(`input[type=checkbox][name="${all.dataset.checkAll}"]`)) box.checked = all.checked;
});
document.addEventListener("click", (event) => {
  // Copy a link or token shown once (data-copy: the field holding it) or a phone number (data-copy-text).
  const button = event.target.closest("[data-copy], [data-copy-text]");
  if (!button) return;
  const field = button.dataset.copy ? document.querySelector(button.dataset.copy) : null;
  const text = field ? field.value : button.dataset.copyText.trim();
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text);
  } else {
    // Plain HTTP (a store's intranet): the old way, through a selected text area.
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  if (button.dataset.copied) button.textContent = button.dataset.copied;
});
