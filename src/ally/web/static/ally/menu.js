// The staff header's account menu is a <details>: it opens and closes without script. This
// only closes it the way people expect a menu to close: a click elsewhere, or Escape.
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details.account-menu[open]")) {
    if (!menu.contains(event.target)) menu.open = false;
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const menu of document.querySelectorAll("details.account-menu[open]")) {
    menu.open = false;
    menu.querySelector("summary").focus();
  }
});
