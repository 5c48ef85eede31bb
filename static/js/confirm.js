// Ask before a destructive form is sent: <form data-confirm="Remove X?">. Without JavaScript the
// form is sent as it is.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
